"""A campaign: the search loop over one target module until its budget is spent.

Hypothesis explores and shrinks; every bug it meets is recorded under its title
with the shortest program seen. When Hypothesis stops on bugs, the next round
goes on exploring with those titles known, so a run reports every distinct
bug it meets. Turning bugs into reports is the repro pipeline's (repro.py).
"""

from __future__ import annotations

import random
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from ..executor import Executor
from ..kernel import Finding, Kind, ModuleIndex
from ..prog import Op, Reply, parse_op
from .bugs import KfuzzBug, StopFuzzing, bug_type
from .choices import Choices
from .database import open_examples
from .dictionary import build_dictionary
from .events import (
    BugFound,
    CampaignFinished,
    CampaignStarted,
    CaseDone,
    Counts,
    Events,
    Minimizing,
    ReportFailed,
    ReportWritten,
)
from .machine import make_machine
from .repro import BugRecord, ReproPipeline, now

# after a stop signal, the run ends within this many seconds (CI kills soon after)
STOP_WITHIN = 4.0
# test cases per Hypothesis run: its per-run state (a tree of every choice
# sequence, a cache of results) grows with each case until the run ends
ROUND_EXAMPLES = 500


@dataclass
class FuzzOptions:
    seed: int = 0
    max_examples: int | None = None
    time_budget: float | None = None
    steps: int = 20
    replays: int = 3
    settings: dict[str, str] = field(default_factory=lambda: {"autoload": "1"})
    db_dir: Path | None = Path(".kfuzz")
    db_url: str | None = None  # redis://HOST:PORT/N: examples there, not in db_dir
    reports: Path = Path("reports")
    op_timeout: float = 0.5
    round_examples: int = ROUND_EXAMPLES
    groups: bool = True  # draw concurrent groups (`together`) in part of the test cases


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


def _interruption(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM behind an error: one that lands inside Hypothesis's engine
    may come out as another exception (an assertion of its own) raised while handling it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__context__
    return None


class Campaign:
    def __init__(self, target: str, index: ModuleIndex, executor: Executor, opts: FuzzOptions,
                 events: Events, time_budget: float | None, run: str = "", number: int = 0):
        self.target = target
        self.number = number  # the campaign's number in the run (events carry it)
        self.index = index
        self.executor = executor
        self.opts = opts
        self.events = events
        self.dictionary = build_dictionary(index, [target])
        self.stats = Stats()
        self.deadline = time.monotonic() + time_budget if time_budget else None
        self.bugs: dict[str, BugRecord] = {}
        self.ignored: set[str] = set()
        self.stopped = False
        self.db = open_examples(opts.db_dir, opts.db_url, target)
        self.run_case = make_machine(self)
        self.repro = ReproPipeline(executor, index, opts.settings, opts.reports, opts.seed, opts.replays, run)

    def counts(self) -> Counts:
        return Counts(self.stats.cases, self.stats.ops, self.stats.elapsed, len(self.bugs))

    # -- budget and the executor, as the state machine sees them ------------------------
    def exhausted(self) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return True
        return self.opts.max_examples is not None and self.stats.cases >= self.opts.max_examples

    def begin_case(self) -> None:
        if self.stats.cases:
            self.events.emit(CaseDone(self.target, self.counts(), self.number))
        if self.exhausted():
            self.stopped = True
            raise StopFuzzing()
        self.stats.cases += 1
        self.executor.begin(self.opts.settings)

    def step(self, op: Op) -> Reply:
        self.stats.ops += len(op.serial())  # a group's tasks are each an operation
        return self.executor.step(op)

    def end(self) -> Reply:
        return self.executor.end()

    def found(self, finding: Finding, ops: list[Op], checks: list[str] | None = None,
              dmesg: list[str] | None = None) -> None:
        record = self.bugs.get(finding.title)
        if record is None:
            record = self.bugs[finding.title] = BugRecord(finding, list(ops), checks or [], dmesg=dmesg or [])
            self.events.emit(BugFound(self.target, finding, len(ops), self.counts(), self.number))
            self.repro.as_found(record, now())
            self.written(record)
        elif len(ops) < len(record.ops):
            record.ops, record.finding, record.dmesg = list(ops), finding, dmesg or []
        if finding.title not in self.ignored:
            raise bug_type(finding.title)(finding)

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> list[BugRecord]:
        self.events.emit(CampaignStarted(self.target, self.opts.seed, self.number))
        self.probe_python_leak()
        rng = random.Random(self.opts.seed * 1_000_003 + zlib.crc32(self.target.encode()))
        while not self.exhausted():
            self.ignored = set(self.bugs)
            if not self.hypothesis_round(rng.getrandbits(64)):
                break
        if self.bugs:
            self.events.emit(Minimizing(self.target, len(self.bugs), self.number))
        for record in self.bugs.values():
            self.report(record, now())
        self.events.emit(CampaignFinished(self.target, self.counts(), self.number))
        return list(self.bugs.values())

    def report(self, record: BugRecord, when: str, quick: bool = False) -> None:
        self.repro.finish(record, when, quick)
        self.written(record)

    def written(self, record: BugRecord) -> None:
        if record.reported is None:
            self.events.emit(ReportFailed(self.target, record.finding.title, str(record.finding.kind),
                                          self.repro.text(record), record.unwritten))
            return
        self.events.emit(ReportWritten(self.target, record.finding.title, record.finding.kind,
                                       len(record.ops), record.reproduced, record.replays,
                                       record.minimized, record.reported))

    def save_what_was_found(self, seconds: float = STOP_WITHIN) -> None:
        """On an interruption: each bug not yet minimized is replayed as it stands
        while `seconds` last, else rewritten as found with the shortest program
        seen; every one is on disk already, so nothing is lost either way."""
        self.executor.abort()  # a request may have been cut off mid-way
        when = now()
        deadline = time.monotonic() + seconds
        for record in self.bugs.values():
            if record.minimized:
                continue
            if time.monotonic() + self.opts.op_timeout * self.opts.replays < deadline:
                self.report(record, when, quick=True)
            else:
                self.repro.as_found(record, when)
                self.written(record)

    def hypothesis_round(self, round_seed: int) -> bool:
        """One Hypothesis run; False once the budget stopped it."""
        remaining = None if self.opts.max_examples is None else self.opts.max_examples - self.stats.cases
        if self.db is not None:
            self.db.keep = bool(self.ignored)
        conf = settings(
            max_examples=max(1, min(remaining or self.opts.round_examples, self.opts.round_examples)),
            deadline=None, database=self.db, derandomize=False, verbosity=Verbosity.quiet,
            suppress_health_check=list(HealthCheck), report_multiple_bugs=True, print_blob=False,
            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        )
        run_case = self.run_case

        @given(st.data())
        def kfuzz_case(data: st.DataObject) -> None:
            run_case(Choices(data.conjecture_data))

        test = hypothesis_seed(round_seed)(settings(conf)(kfuzz_case))
        # @seed turns the database off, taking a seeded run for a reproduction; every
        # kfuzz run is seeded and still wants its database, so the settings go back.
        test._hypothesis_internal_use_settings = conf  # type: ignore[attr-defined]
        try:
            test()
        except StopFuzzing:
            return False
        except BaseException as exc:  # noqa: BLE001 - sorted below
            stop = _interruption(exc)
            if stop is not None:
                raise stop from None
            if not _only_bugs(exc):
                raise
        return not self.stopped

    def probe_python_leak(self) -> None:
        """Load and unload the target in cycles, measuring the Python heap."""
        ops = [parse_op(f"modprobe {self.target}"), parse_op(f"rmmod {self.target}")]
        outcome = self.executor.run(self.repro.program(ops, ["python-leak"]))
        if outcome.finding is not None:
            # another bug met on the way is an ordinary one: minimized, replayed plainly
            checks = ["python-leak"] if outcome.finding.kind is Kind.PYTHON_LEAK else []
            record = BugRecord(outcome.finding, ops, checks, dmesg=outcome.dmesg)
            self.bugs.setdefault(outcome.finding.title, record)
            self.events.emit(BugFound(self.target, outcome.finding, len(ops), self.counts(),
                                         self.number))
            self.repro.as_found(record, now())
            self.written(record)
