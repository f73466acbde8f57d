"""What a run tells its listeners: typed events, the only window into a campaign.

The live display is one listener; tests, benchmarks and (later) CI outputs
listen the same way instead of reaching into a campaign. Events are plain data
(picklable): with --workers the campaign processes send them to the parent,
which alone tells the listeners; `campaign` numbers the campaign within the run
(0 for every campaign of a single-process run, which runs one at a time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..kernel import Finding


@dataclass(frozen=True)
class Counts:
    """A campaign's figures so far."""

    cases: int = 0
    ops: int = 0
    seconds: float = 0.0
    bugs: int = 0

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class CampaignStarted:
    target: str
    seed: int
    campaign: int = 0


@dataclass(frozen=True)
class CaseDone:
    target: str
    counts: Counts
    campaign: int = 0


@dataclass(frozen=True)
class BugFound:
    target: str
    finding: Finding
    steps: int
    counts: Counts  # the campaign's figures when it was found
    campaign: int = 0


@dataclass(frozen=True)
class Minimizing:
    target: str
    bugs: int
    campaign: int = 0


@dataclass(frozen=True)
class ReportWritten:
    target: str
    title: str
    kind: str
    steps: int
    reproduced: int
    replays: int
    minimized: bool
    folder: Path


@dataclass(frozen=True)
class ReportFailed:
    """A report folder that could not be written: the bug in full, so it is not lost."""

    target: str
    title: str
    kind: str
    repro: str
    reason: str


@dataclass(frozen=True)
class CampaignFinished:
    target: str
    counts: Counts
    campaign: int = 0


@dataclass(frozen=True)
class CheckFailed:
    """A line of `kfuzz check` that failed without a kernel finding (a signature that does
    not verify, a node that does not pin its module): no report folder, still a failure."""

    target: str
    check: str
    detail: str
    campaign: int = 0


@dataclass(frozen=True)
class RunFinished:
    counts: Counts
    interrupted: bool


Event = (CampaignStarted | CaseDone | BugFound | Minimizing | ReportWritten | ReportFailed | CampaignFinished
         | CheckFailed | RunFinished)
Listener = Callable[[Event], None]


class Events:
    """The listeners of one run; `emit` tells each of them, in order."""

    def __init__(self, *listeners: Listener):
        self.listeners = list(listeners)

    def emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)
