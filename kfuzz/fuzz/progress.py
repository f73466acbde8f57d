"""What a person sees while kfuzz fuzzes: a live rich display, or plain lines.

Both are listeners on the run's events (events.py); neither reads a campaign.
"""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..render import plural
from .events import (
    BugFound,
    CampaignFinished,
    CampaignStarted,
    CaseDone,
    Counts,
    Event,
    Minimizing,
    ReportFailed,
    ReportWritten,
)

REFRESH = 0.25
PLAIN_EVERY = 5.0


class Progress:
    """Keeps what the display shows, from the events; subclasses show it.

    The figures are the run's: every campaign's test cases and operations added up
    (with --workers, several campaigns run at once), operations per second of the
    campaigns running now, each bug once however many campaigns found it.
    """

    every = PLAIN_EVERY

    def __init__(self, console: Console):
        self.console = console
        # by (target, campaign number): a single-process run numbers every campaign 0
        self.campaigns: dict[tuple[str, int], Counts] = {}  # each campaign's latest figures
        self.running: dict[tuple[str, int], str] = {}  # the phase of each campaign running
        self.started: float | None = None
        self.found: list[tuple[str, str, str]] = []
        self.reports: list[ReportWritten] = []
        self.shown_failed: set[str] = set()
        self.shown_reports: set[str] = set()
        self._last = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, CampaignStarted):
            if self.started is None:
                self.started = time.monotonic()
            self.running[(event.target, event.campaign)] = "fuzzing"
            self.campaigns[(event.target, event.campaign)] = Counts()
        elif isinstance(event, (CaseDone, CampaignFinished)):
            self.campaigns[(event.target, event.campaign)] = event.counts
            if isinstance(event, CampaignFinished):
                self.running.pop((event.target, event.campaign), None)
            now = time.monotonic()
            if now - self._last >= self.every:
                self._last = now
                self.show()
        elif isinstance(event, BugFound):
            self.campaigns[(event.target, event.campaign)] = event.counts
            bug = (event.target, str(event.finding.kind), event.finding.title)
            if bug not in self.found:  # a bug two campaigns found is one bug
                self.found.append(bug)
                self.show_bug(event)
        elif isinstance(event, Minimizing):
            if (event.target, event.campaign) in self.running:
                self.running[(event.target, event.campaign)] = "minimizing"
            self.show()
        elif isinstance(event, ReportWritten):
            self.reports.append(event)
            line = report_line(event)
            if line not in self.shown_reports:  # two campaigns' same report, shown once
                self.shown_reports.add(line)
                self.show_report(event)
        elif isinstance(event, ReportFailed) and event.repro not in self.shown_failed:
            self.shown_failed.add(event.repro)
            self.show_failed(event)

    @property
    def counts(self) -> Counts:
        """The run's figures so far."""
        seconds = time.monotonic() - self.started if self.started is not None else 0.0
        every = self.campaigns.values()
        return Counts(sum(c.cases for c in every), sum(c.ops for c in every), seconds, len(self.found))

    @property
    def rate(self) -> float:
        """Operations per second of the campaigns running now; once none runs, of the run."""
        if not self.running:
            return self.counts.rate
        return sum(self.campaigns[key].rate for key in self.running if key in self.campaigns)

    def status(self) -> str:
        if self.started is None:
            return ""
        c = self.counts
        targets = [t for t, _ in self.running]
        phases = set(self.running.values())
        if len(targets) == 1:
            label = targets[0]
        elif targets:
            label = f"{len(targets)} campaigns ({', '.join(sorted(set(targets)))})"
        else:
            ran = sorted({t for t, _ in self.campaigns})
            label = ran[0] if len(ran) == 1 else f"{len(self.campaigns)} campaigns"
        phase = "fuzzing" if "fuzzing" in phases else "minimizing" if phases else "done"
        return (f"{label}: {phase}, {c.cases} test cases, {c.ops} ops, "
                f"{self.rate:,.0f} ops/s, {plural(c.bugs, 'bug')}, {c.seconds:.1f}s")

    def show(self) -> None:
        pass

    def show_bug(self, event: BugFound) -> None:
        pass

    def show_report(self, event: ReportWritten) -> None:
        self.show()

    def show_failed(self, event: ReportFailed) -> None:
        """Printed, not only displayed: the bug's only copy may be this output."""
        self.console.print(failed_text(event), soft_wrap=True, highlight=False, markup=False)

    def close(self) -> None:
        pass


def failed_text(event: ReportFailed) -> str:
    return (f"kfuzz: error: {event.reason}; the report of this bug is not on disk, so here it is "
            f"in full:\n  module {event.target}\n  kind   {event.kind}\n  title  {event.title}\n"
            f"  repro (save it as a .kfz file and `kfuzz replay` it):\n"
            + "".join(f"    {line}\n" for line in event.repro.splitlines()))


def report_line(event: ReportWritten) -> str:
    """One report on one line, for logs: module, kind, title, repro size, reliability, folder."""
    state = f"reproduced {event.reproduced}/{event.replays}" if event.minimized else "as found"
    return f"{event.target}: {event.kind}: {event.title} ({event.steps} steps, {state}) -> {event.folder}"


class PlainProgress(Progress):
    """Lines for logs and CI: a status line every few seconds, one per finding."""

    def show(self) -> None:
        line = self.status()
        if line:
            self.console.print(line, soft_wrap=True)

    def show_bug(self, event: BugFound) -> None:
        self.console.print(f"{event.target}: found {event.finding.kind}: {event.finding.title}",
                           soft_wrap=True)

    def show_report(self, event: ReportWritten) -> None:
        self.console.print(f"reported {report_line(event)}", soft_wrap=True)


class LiveProgress(Progress):
    """A live table on a terminal."""

    every = REFRESH

    def __init__(self, console: Console):
        super().__init__(console)
        self.live = Live(console=console, auto_refresh=False, transient=False)
        self.live.start()

    def render(self) -> Group:
        table = Table(title="findings", title_justify="left", show_edge=False, header_style="bold")
        table.add_column("module")
        table.add_column("kind")
        table.add_column("title")
        for target, kind, title in self.found[-20:]:
            table.add_row(target, kind, Text(title, style="red"))
        return Group(Text(self.status(), style="bold"), table)

    def show(self) -> None:
        self.live.update(self.render(), refresh=True)

    def show_bug(self, event: BugFound) -> None:
        self.show()

    def close(self) -> None:
        self.show()
        self.live.stop()


def make_progress(console: Console) -> Progress:
    return LiveProgress(console) if console.is_terminal else PlainProgress(console)
