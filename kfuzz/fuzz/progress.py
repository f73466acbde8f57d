"""What a person sees while kfuzz fuzzes: a live rich display, or plain lines."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..render import finding_line, plural

REFRESH = 0.25
PLAIN_EVERY = 5.0


class Progress:
    """Counts for the display; subclasses show them."""

    def __init__(self, console: Console):
        self.console = console
        self.target = ""
        self.phase_text = ""
        self.campaign: Any = None
        self.found: list[tuple[str, str, str]] = []
        self.reports: list[Any] = []
        self._last = 0.0

    def start(self, campaign: Any) -> None:
        self.campaign = campaign
        self.phase_text = "fuzzing"

    def case(self, campaign: Any) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.show()

    def bug(self, campaign: Any, finding: Any) -> None:
        self.found.append((campaign.target, finding.kind, finding.title))
        self.show_bug(campaign, finding)

    def phase(self, campaign: Any, text: str) -> None:
        self.phase_text = text
        self.show()

    def report(self, campaign: Any, record: Any) -> None:
        self.reports.append(record)
        self.show()

    def status(self) -> str:
        c = self.campaign
        if c is None:
            return ""
        s = c.stats
        rate = s.ops / s.elapsed if s.elapsed > 0 else 0.0
        return (f"{c.target}: {self.phase_text}, {s.cases} test cases, {s.ops} ops, "
                f"{rate:,.0f} ops/s, {plural(len(c.bugs), 'bug')}, {s.elapsed:.1f}s")

    every = PLAIN_EVERY

    def show(self) -> None:
        pass

    def show_bug(self, campaign: Any, finding: Any) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress(Progress):
    """Lines for logs and CI: a status line every few seconds, one per finding."""

    def show(self) -> None:
        line = self.status()
        if line:
            self.console.print(line, soft_wrap=True)

    def show_bug(self, campaign: Any, finding: Any) -> None:
        self.console.print(f"{campaign.target}: found {finding.kind}: {finding.title}", soft_wrap=True)

    def report(self, campaign: Any, record: Any) -> None:
        self.reports.append(record)
        self.console.print(f"reported {finding_line(campaign.target, record)}", soft_wrap=True)


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

    def show_bug(self, campaign: Any, finding: Any) -> None:
        self.show()

    def close(self) -> None:
        self.show()
        self.live.stop()


def make_progress(console: Console) -> Progress:
    return LiveProgress(console) if console.is_terminal else PlainProgress(console)
