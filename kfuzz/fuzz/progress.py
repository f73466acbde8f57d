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
    """Keeps what the display shows, from the events; subclasses show it."""

    every = PLAIN_EVERY

    def __init__(self, console: Console):
        self.console = console
        self.target = ""
        self.phase_text = ""
        self.counts = Counts()
        self.found: list[tuple[str, str, str]] = []
        self.reports: list[ReportWritten] = []
        self.shown_failed: set[str] = set()
        self._last = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, CampaignStarted):
            self.target, self.phase_text, self.counts = event.target, "fuzzing", Counts()
        elif isinstance(event, (CaseDone, CampaignFinished)):
            self.counts = event.counts
            now = time.monotonic()
            if now - self._last >= self.every:
                self._last = now
                self.show()
        elif isinstance(event, BugFound):
            self.counts = event.counts
            self.found.append((event.target, str(event.finding.kind), event.finding.title))
            self.show_bug(event)
        elif isinstance(event, Minimizing):
            self.phase_text = "minimizing"
            self.show()
        elif isinstance(event, ReportWritten):
            self.reports.append(event)
            self.show_report(event)
        elif isinstance(event, ReportFailed) and event.repro not in self.shown_failed:
            self.shown_failed.add(event.repro)
            self.show_failed(event)

    def status(self) -> str:
        if not self.target:
            return ""
        c = self.counts
        return (f"{self.target}: {self.phase_text}, {c.cases} test cases, {c.ops} ops, "
                f"{c.rate:,.0f} ops/s, {plural(c.bugs, 'bug')}, {c.seconds:.1f}s")

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
