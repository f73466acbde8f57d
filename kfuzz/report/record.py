"""The report record: the schema of `report.json`, read and written in this one place.

The report writer, `replay --json` and every output format use this record.
Old report folders (before `schema_version`) read with the new fields at
their defaults.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypedDict

from ..kernel import Finding

SCHEMA_VERSION = 1


class SiteJson(TypedDict):
    """The guilty frame as report.json writes it."""

    file: str
    line: int
    function: str


def sha256_of(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def shown_path(path: str) -> str:
    """A path relative to the current directory where it can be."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


@dataclass
class ReportRecord:
    """One bug as report.json records it (fields of repro-format.md, then kfuzz's own)."""

    title: str
    kind: str
    module: str
    function: str
    repro: str
    steps: int
    reproduced: int = 0
    replays: int = 0
    minimized: bool = False
    site: SiteJson | None = None
    modules: dict[str, str] = field(default_factory=dict)  # module file -> sha256
    schema_version: int = SCHEMA_VERSION
    first_seen: str = ""
    last_seen: str = ""
    count: int = 1
    seed: int | None = None
    dmesg: list[str] = field(default_factory=list)
    message: str = ""
    traceback: list[str] = field(default_factory=list)
    alloc_site: list[str] = field(default_factory=list)
    free_site: list[str] = field(default_factory=list)
    last_run: str = ""  # the run that last counted it: count goes up once a run

    @classmethod
    def of(cls, finding: Finding, repro: str, steps: int, *, reproduced: int = 0, replays: int = 0,
           minimized: bool = False, seed: int | None = None, dmesg: list[str] | None = None,
           modules: dict[str, str] | None = None) -> ReportRecord:
        site = finding.site
        site_dict: SiteJson | None = None
        if site is not None:
            site_dict = {"file": shown_path(site.file), "line": site.line, "function": site.function}
        return cls(title=finding.title, kind=str(finding.kind), module=finding.module,
                   function=finding.function, repro=repro, steps=steps, reproduced=reproduced,
                   replays=replays, minimized=minimized, site=site_dict, modules=dict(modules or {}),
                   seed=seed, dmesg=list(dmesg or []), message=finding.message,
                   traceback=list(finding.traceback), alloc_site=list(finding.alloc_site),
                   free_site=list(finding.free_site))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportRecord:
        """A record from report.json; ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("report.json does not hold an object")
        names = {f.name for f in fields(cls)}
        missing = [k for k in ("title", "kind", "module", "function", "repro", "steps") if k not in data]
        if missing:
            raise ValueError(f"report.json lacks {', '.join(missing)}")
        record = cls(**{k: v for k, v in data.items() if k in names})
        if "schema_version" not in data:  # written before the field existed
            record.minimized = data.get("replays", 0) > 0
        return record

    def better_repro_than(self, old: ReportRecord) -> bool:
        """A minimized repro beats one as found; then fewer steps; then more reproductions;
        then the shorter text, then the text itself: whichever of two workers reports
        first, the same repro stays."""
        return (not self.minimized, self.steps, -self.reproduced, len(self.repro), self.repro) < (
            not old.minimized, old.steps, -old.reproduced, len(old.repro), old.repro)

    def merged(self, old: ReportRecord | None, now: str, run: str) -> ReportRecord:
        """This finding written over the folder's old record: counts and dates carry on,
        and the better repro (with its log and sites) stays."""
        new = ReportRecord(**asdict(self))
        new.first_seen = new.last_seen = now
        new.last_run = run
        if old is None:
            new.count = 1
            return new
        new.first_seen = old.first_seen or now
        new.count = old.count + (0 if old.last_run == run and run else 1)
        if not self.better_repro_than(old):
            for key in ("repro", "steps", "reproduced", "replays", "minimized", "seed", "dmesg", "message",
                        "traceback", "alloc_site", "free_site", "site", "modules"):
                setattr(new, key, getattr(old, key))
        return new
