"""A campaign: fuzz one target module until its budget is spent, then report.

Hypothesis explores and shrinks; every bug it meets is recorded under its title
with the shortest program seen. When Hypothesis stops on bugs, the next round
goes on exploring with those titles known, so a run reports every distinct
bug it meets. Each new bug is then minimized, replayed in fresh kernels, and
written to its report folder.
"""

from __future__ import annotations

import os
import random
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import get_state_machine_test

from ..executor.session import Reply
from ..kernel import Finding, ModuleIndex
from ..prog import Op, Program
from ..prog.program import header
from ..report import BugReport, folder_name, write_report
from .bugs import KfuzzBug, StopFuzzing, bug_type
from .database import KeepingDatabase
from .dictionary import build_dictionary
from .machine import make_machine
from .minimize import minimize


@dataclass
class FuzzOptions:
    seed: int = 0
    max_examples: int | None = None
    time_budget: float | None = None
    steps: int = 20
    replays: int = 3
    settings: dict[str, str] = field(default_factory=lambda: {"autoload": "1"})
    db_dir: Path | None = Path(".kfuzz")
    reports: Path = Path("reports")
    op_timeout: float = 0.5


@dataclass
class BugRecord:
    finding: Finding
    ops: list[Op]
    checks: list[str] = field(default_factory=list)
    reported: Path | None = None
    reproduced: int = 0
    replays: int = 0


@dataclass
class Stats:
    cases: int = 0
    ops: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def _only_bugs(exc: BaseException) -> bool:
    """True for what Hypothesis raises about bugs we recorded (one, a group, flaky)."""
    if isinstance(exc, KfuzzBug):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_bugs(e) for e in exc.exceptions)
    return type(exc).__name__.startswith("Flaky") or isinstance(exc.__cause__, KfuzzBug)


class Campaign:
    def __init__(self, target: str, index: ModuleIndex, executor: Any, opts: FuzzOptions,
                 progress: Any, time_budget: float | None):
        self.target = target
        self.index = index
        self.executor = executor
        self.opts = opts
        self.progress = progress
        self.dictionary = build_dictionary(index, [target])
        self.stats = Stats()
        self.deadline = time.monotonic() + time_budget if time_budget else None
        self.bugs: dict[str, BugRecord] = {}
        self.ignored: set[str] = set()
        self.stopped = False
        self.db = KeepingDatabase(opts.db_dir / "examples" / target) if opts.db_dir else None

    # -- budget and the executor, as the state machine sees them ------------------------
    def exhausted(self) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return True
        return self.opts.max_examples is not None and self.stats.cases >= self.opts.max_examples

    def begin_case(self) -> None:
        if self.exhausted():
            self.stopped = True
            raise StopFuzzing()
        self.stats.cases += 1
        self.executor.begin(self.opts.settings)
        self.progress.case(self)

    def step(self, op: Op) -> Reply:
        self.stats.ops += 1
        return self.executor.step(op)

    def end(self) -> Reply:
        return self.executor.end()

    def found(self, finding: Finding, ops: list[Op], checks: list[str] | None = None) -> None:
        record = self.bugs.get(finding.title)
        if record is None:
            self.bugs[finding.title] = BugRecord(finding, list(ops), checks or [])
            self.progress.bug(self, finding)
        elif len(ops) < len(record.ops):
            record.ops, record.finding = list(ops), finding
        if finding.title not in self.ignored:
            raise bug_type(finding.title)(finding)

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> list[BugRecord]:
        self.probe_python_leak()
        rng = random.Random(self.opts.seed * 1_000_003 + zlib.crc32(self.target.encode()))
        while not self.exhausted():
            self.ignored = set(self.bugs)
            if not self.hypothesis_round(rng.getrandbits(64)):
                break
        if self.bugs:
            self.progress.phase(self, "minimizing")
        for record in self.bugs.values():
            self.finish(record, now())
        return list(self.bugs.values())

    def hypothesis_round(self, round_seed: int) -> bool:
        """One Hypothesis run; False once the budget stopped it."""
        remaining = None if self.opts.max_examples is None else self.opts.max_examples - self.stats.cases
        if self.db is not None:
            self.db.keep = bool(self.ignored)
        conf = settings(
            max_examples=max(1, min(remaining or 10_000, 10_000)), stateful_step_count=self.opts.steps,
            deadline=None, database=self.db, derandomize=False, verbosity=Verbosity.quiet,
            suppress_health_check=list(HealthCheck), report_multiple_bugs=True, print_blob=False,
            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        )
        test = hypothesis_seed(round_seed)(get_state_machine_test(make_machine(self), settings=conf))
        # @seed turns the database off, taking a seeded run for a reproduction; every
        # kfuzz run is seeded and still wants its database, so the settings go back.
        test._hypothesis_internal_use_settings = conf
        try:
            test()
        except StopFuzzing:
            return False
        except BaseException as exc:  # noqa: BLE001 - sorted below
            if isinstance(exc, KeyboardInterrupt) or not _only_bugs(exc):
                raise
        return not self.stopped

    def probe_python_leak(self) -> None:
        """Load and unload the target in cycles, measuring the Python heap."""
        ops = [Op("modprobe", (self.target,)), Op("rmmod", (self.target,))]
        outcome = self.executor.replay(self.program(ops, ["python-leak"]))
        if outcome.finding is not None:
            # another bug met on the way is an ordinary one: minimized, replayed plainly
            checks = ["python-leak"] if outcome.finding.kind == "python-leak" else []
            self.bugs.setdefault(outcome.finding.title, BugRecord(outcome.finding, ops, checks))
            self.progress.bug(self, outcome.finding)

    # -- after the search -------------------------------------------------------------------
    def modules_for(self, ops: list[Op]) -> list[Path]:
        return [img.path for _, img in sorted(self.index.images.items())]

    def program(self, ops: list[Op], checks: list[str] = (), base: Path | None = None) -> Program:
        paths = self.modules_for(ops)
        shown = [os.path.relpath(p.resolve(), base.resolve()) if base else str(p) for p in paths]
        lines: list[Any] = header(shown, self.opts.settings, list(checks))
        return Program(lines + list(ops), paths, dict(self.opts.settings), None, list(checks))

    def reproduces(self, title: str, ops: list[Op], checks: list[str]) -> Any:
        outcome = self.executor.replay(self.program(ops, checks))
        return outcome if outcome.finding is not None and outcome.finding.title == title else None

    def finish(self, record: BugRecord, when: str, quick: bool = False) -> None:
        """Minimize (unless quick), replay, and write the report folder."""
        title = record.finding.title
        ops = record.ops
        if not quick and not record.checks:
            ops = minimize(ops, lambda cand: self.reproduces(title, cand, record.checks) is not None)
        outcomes = [self.reproduces(title, ops, record.checks) for _ in range(self.opts.replays)]
        good = [o for o in outcomes if o is not None]
        finding = good[-1].finding if good else record.finding
        folder = self.opts.reports / folder_name(finding.kind, title)
        text = self.program(ops, record.checks, base=folder).format()
        rep = BugReport(finding, text, len(ops), len(good), len(outcomes), self.opts.seed,
                        good[-1].dmesg if good else [])
        record.ops, record.reproduced, record.replays = ops, len(good), len(outcomes)
        record.reported = write_report(self.opts.reports, rep, when)
        self.progress.report(self, record)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
