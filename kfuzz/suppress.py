"""Known findings: `[[tool.kfuzz.suppress]]` entries matched against a run's findings.

A finding whose title is a suppression's, exactly, is listed as suppressed and
does not fail the run (its report folder is still written: the bug is real).
A suppression that matched no finding of a whole run is listed as stale, so that
an entry does not outlive the bug it was written for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .config import Suppression
from .kernel import Finding

T = TypeVar("T")


@dataclass
class Sorted(Generic[T]):
    """A run's findings, parted by the project's suppressions."""

    active: list[T] = field(default_factory=list)
    suppressed: list[tuple[T, Suppression]] = field(default_factory=list)
    stale: list[Suppression] = field(default_factory=list)


def apply_suppressions(found: Sequence[tuple[T, Finding]], suppress: Sequence[Suppression]) -> Sorted[T]:
    """Parts FOUND (each item with its finding) into active and suppressed ones."""
    by_title = {s.title: s for s in suppress}
    out: Sorted[T] = Sorted()
    matched: set[str] = set()
    for item, finding in found:
        entry = by_title.get(finding.title)
        if entry is None:
            out.active.append(item)
        else:
            out.suppressed.append((item, entry))
            matched.add(entry.title)
    out.stale = [s for s in suppress if s.title not in matched]
    return out


def suppression_lines(titles: Sequence[tuple[str, Suppression]], stale: Sequence[Suppression],
                      where: str) -> list[str]:
    """Plain lines (`suppressed: ...`, `stale suppression: ...`) for the end of a run."""
    lines = [f"suppressed: {label} ({where}: {s.reason})" for label, s in titles]
    lines += [f"stale suppression: {s.title!r} in {where} matched no finding of this run; "
              f"remove it once its bug is fixed" for s in stale]
    return lines
