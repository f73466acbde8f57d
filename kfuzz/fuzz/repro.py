"""From a bug as found to its report: minimize, replay N times, build the record, write.

A repro is checked by its title, never by "it failed": a shrink that turns one
bug into another is a different bug, not a smaller repro.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Protocol

from ..executor import Executor
from ..kernel import Finding, ModuleIndex
from ..prog import Op, Outcome, Program
from ..prog.program import header
from ..report import ReportRecord, folder_name, sha256_of, write_report
from .minimize import minimize


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class BugRecord:
    """One bug of a campaign: its finding and the shortest program seen to give it."""

    finding: Finding
    ops: list[Op]
    checks: list[str] = field(default_factory=list)
    reported: Path | None = None
    reproduced: int = 0
    replays: int = 0
    minimized: bool = False
    dmesg: list[str] = field(default_factory=list)  # the kernel log of the program as found
    unwritten: str = ""  # why its report folder could not be written, if it could not


class ReportSink(Protocol):
    """Where a finished record goes: the report store here, or the client of a cluster."""

    def __call__(self, root: Path, record: ReportRecord, now: str, run: str | None = None) -> Path: ...


class ReproPipeline:
    """Turns the bugs of one target into report folders, through its executor.

    On a cluster's worker, `sink` sends each record to the client, which alone
    writes the store, and `shown_as` names each module file as the client has it,
    so the record is the one a local run would write.
    """

    sink: ReportSink | None = None  # None: write_report, here
    shown_as: dict[Path, Path] = {}

    def __init__(self, executor: Executor, index: ModuleIndex, settings: dict[str, str],
                 reports: Path, seed: int, replays: int, run: str):
        self.executor = executor
        self.index = index
        self.settings = settings
        self.reports = reports
        self.seed = seed
        self.replays = replays
        self.run = run

    def program(self, ops: list[Op], checks: list[str] | tuple[str, ...] = (),
                base: Path | None = None) -> Program:
        """The ops as a program over every module of the index, paths relative to `base`."""
        lines: list[Op | str] = [*header(self.shown(base), self.shown_settings(), list(checks)), *ops]
        return Program(lines, self.paths(), dict(self.settings), None, list(checks))

    def shown_settings(self) -> dict[str, str]:
        """The kernel settings as the header shows them: a keyring by the client's path."""
        key = self.settings.get("keyring")
        if not key or Path(key) not in self.shown_as:
            return self.settings
        return {**self.settings, "keyring": str(self.shown_as[Path(key)])}

    def paths(self) -> list[Path]:
        return [img.path for _, img in sorted(self.index.images.items())]

    @cached_property
    def hashes(self) -> list[str]:
        """The sha256 of each module file, read once: every report of the run names the
        files the run fuzzed, however many reports it writes."""
        return [sha256_of(path) for path in self.paths()]

    def shown(self, base: Path | None) -> list[str]:
        paths = [self.shown_as.get(p, p) for p in self.paths()]
        return [os.path.relpath(p.resolve(), base.resolve()) if base else str(p) for p in paths]

    def reproduces(self, title: str, ops: list[Op], checks: list[str]) -> Outcome | None:
        outcome = self.executor.run(self.program(ops, checks))
        return outcome if outcome.finding is not None and outcome.finding.title == title else None

    def finish(self, bug: BugRecord, when: str, quick: bool = False) -> Path | None:
        """Minimize (unless quick), replay, and write the report folder."""
        title = bug.finding.title
        ops = bug.ops
        if not quick and not bug.checks:
            ops = minimize(ops, lambda cand: self.reproduces(title, cand, bug.checks) is not None)
        outcomes = [self.reproduces(title, ops, bug.checks) for _ in range(self.replays)]
        good = [o for o in outcomes if o is not None]
        finding = good[-1].finding if good and good[-1].finding else bug.finding
        bug.ops, bug.reproduced, bug.replays = ops, len(good), len(outcomes)
        bug.minimized = not quick
        bug.reported = self.write(bug, finding, good[-1].dmesg if good else [], when)
        return bug.reported

    def as_found(self, bug: BugRecord, when: str) -> Path | None:
        """The report the moment a bug is found: its program as found, not yet replayed,
        so that a run killed from now on still leaves it on disk."""
        bug.reproduced = bug.replays = 0
        bug.minimized = False
        bug.reported = self.write(bug, bug.finding, bug.dmesg, when)
        return bug.reported

    def write(self, bug: BugRecord, finding: Finding, dmesg: list[str], when: str) -> Path | None:
        """The report folder, or None when the store cannot be written (a full disk, no
        permission): the bug then says why, and the run goes on."""
        folder = self.reports / folder_name(finding.kind, finding.title)
        prog = self.program(bug.ops, bug.checks, base=folder)
        modules = dict(zip(self.shown(folder), self.hashes, strict=True))
        record = ReportRecord.of(finding, prog.format(), len(bug.ops), reproduced=bug.reproduced,
                                 replays=bug.replays, minimized=bug.minimized, seed=self.seed,
                                 dmesg=dmesg, modules=modules)
        try:
            written = (self.sink or write_report)(self.reports, record, when, self.run)
        except OSError as err:
            bug.unwritten = f"cannot write {err.filename or folder}: {err.strerror or err}"
            return None
        bug.unwritten = ""
        return written

    def text(self, bug: BugRecord) -> str:
        """The bug's repro as a program that runs from anywhere (absolute module paths)."""
        return self.program(bug.ops, bug.checks).format()
