"""The baseline: the titles a reports folder from the main branch holds.

A pull request's run lists a finding whose title is there as known; only new
titles fail it. A title is a bug's identity across runs (and across branches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..report import read_record


class CiError(ValueError):
    """A CI flag that cannot be honoured (a file that cannot be written, a baseline that
    cannot be read): bad input, said in one line before anything runs."""


@dataclass(frozen=True)
class Baseline:
    folder: Path | None = None
    titles: frozenset[str] = field(default_factory=frozenset)

    def __contains__(self, title: object) -> bool:
        return title in self.titles

    @classmethod
    def load(cls, folder: Path) -> Baseline:
        """The titles of every report folder under FOLDER (an empty folder is a clean main branch)."""
        if not folder.is_dir():
            raise CiError(f"--baseline {folder}: no such folder; give the reports folder of a run on "
                          f"the main branch (an empty folder when main has no finding)")
        titles = set()
        for sub in sorted(folder.iterdir()):
            if sub.name.startswith(".") or not sub.is_dir():
                continue  # staging, quarantined and lock files
            record = read_record(sub)
            if record is not None:
                titles.add(record.title)
        return cls(folder, frozenset(titles))
