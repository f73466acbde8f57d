"""What a run did, per module, as CI outputs need it: built from the run's events only.

Every CI output is a `RunLog` that writes its file when the run ends (and the
stats file as it goes). A command feeds it `CampaignStarted`, `CaseDone`,
`BugFound`, `ReportWritten` or `ReportFailed`, `CampaignFinished` per module and
one `RunFinished`; each finding's details are read back from its folder's
report.json, the report record, so every output says what the report says.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..fuzz.events import (
    BugFound,
    CampaignFinished,
    CampaignStarted,
    CaseDone,
    CheckFailed,
    Counts,
    Event,
    ReportFailed,
    ReportWritten,
    RunFinished,
)
from ..kernel import Finding
from ..report import ReportRecord, read_record
from .baseline import Baseline


@dataclass
class Found:
    """One finding of a module: its latest report record, or what the events said of it."""

    target: str
    title: str
    kind: str
    known: bool = False  # in the baseline: listed, but does not fail the run
    folder: Path | None = None
    record: ReportRecord | None = None
    finding: Finding | None = None
    repro: str = ""  # when the report could not be written, the repro from the event
    unwritten: str = ""

    @property
    def repro_text(self) -> str:
        return self.record.repro if self.record is not None else self.repro


@dataclass
class ModuleRun:
    """One module's campaigns (several with --workers N on fewer targets; or its check):
    their figures added up, and its findings in the order found."""

    name: str
    counts: Counts = field(default_factory=Counts)
    finished: bool = False
    found: dict[str, Found] = field(default_factory=dict)
    checks_failed: list[tuple[str, str]] = field(default_factory=list)  # (check, detail), no finding
    campaigns: dict[int, Counts] = field(default_factory=dict)  # each campaign's latest figures
    running: set[int] = field(default_factory=set)

    def update(self, campaign: int, counts: Counts) -> None:
        self.campaigns[campaign] = counts
        every = self.campaigns.values()
        self.counts = Counts(sum(c.cases for c in every), sum(c.ops for c in every),
                             max(c.seconds for c in every), len(self.found))


class RunLog:
    """A listener that keeps the run's modules and findings; `finish` is called once, at
    RunFinished. `clock` is a parameter so that tests need not wait."""

    def __init__(self, baseline: Baseline | None = None, command: str = "fuzz", workers: int = 1,
                 clock: Callable[[], float] = time.monotonic):
        self.baseline = baseline or Baseline()
        self.command = command
        self.workers = workers
        self.clock = clock
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
        self.modules: dict[str, ModuleRun] = {}
        self.totals: Counts | None = None  # RunFinished's figures
        self.interrupted = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, CampaignStarted):
            self.module(event.target).running.add(event.campaign)
        elif isinstance(event, (CaseDone, CampaignFinished)):
            run = self.module(event.target)
            run.update(event.campaign, event.counts)
            if isinstance(event, CampaignFinished):
                run.running.discard(event.campaign)
                run.finished = not run.running
        elif isinstance(event, BugFound):
            self.module(event.target).update(event.campaign, event.counts)
            self.bug(event.target, event.finding.title, str(event.finding.kind)).finding = event.finding
        elif isinstance(event, ReportWritten):
            found = self.bug(event.target, event.title, str(event.kind))
            found.folder, found.unwritten = event.folder, ""
            found.record = read_record(event.folder) or found.record
        elif isinstance(event, ReportFailed):
            found = self.bug(event.target, event.title, event.kind)
            found.repro, found.unwritten = event.repro, event.reason
        elif isinstance(event, CheckFailed):
            self.module(event.target).checks_failed.append((event.check, event.detail))
        elif isinstance(event, RunFinished):
            self.totals, self.interrupted = event.counts, event.interrupted
            self.guarded(self.finish)
            return
        self.guarded(self.progress)

    def guarded(self, write: Callable[[], None]) -> None:
        """An output that cannot be written (a full disk) is said on stderr; the run, and
        its reports, go on."""
        try:
            write()
        except OSError as err:
            print(f"kfuzz: error: cannot write {err.filename or 'a CI output'}: {err.strerror or err}",
                  file=sys.stderr)

    def module(self, name: str) -> ModuleRun:
        return self.modules.setdefault(name, ModuleRun(name))

    def bug(self, target: str, title: str, kind: str) -> Found:
        found = self.module(target).found
        if title not in found:
            found[title] = Found(target, title, kind, known=title in self.baseline)
        return found[title]

    def findings(self) -> list[Found]:
        return [f for run in self.modules.values() for f in run.found.values()]

    def new(self) -> list[Found]:
        return [f for f in self.findings() if not f.known]

    def figures(self) -> Counts:
        """The run's figures: RunFinished's at the end, the modules' sums before."""
        if self.totals is not None:
            return self.totals
        runs = self.modules.values()
        return Counts(sum(r.counts.cases for r in runs), sum(r.counts.ops for r in runs),
                      sum(r.counts.seconds for r in runs), len(self.findings()))

    def by_kind(self, found: list[Found]) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for f in found:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        return dict(sorted(kinds.items()))

    def progress(self) -> None:
        """Called after each event but the last; an output that writes as the run goes overrides it."""

    def finish(self) -> None:
        """Writes the output; called once, when the run ends."""
