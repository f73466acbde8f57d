"""The parent's side of a run whose campaigns run elsewhere: it takes what each
campaign streams back (events, then its bugs) and makes of them one run.

Where the campaigns run is not its concern: `parallel.py` feeds it from local
campaign processes over pipes; a cluster mode can feed it the same messages
streamed from remote tasks. It alone tells the run's listeners (the display,
CI outputs), so they see one run however many campaigns make it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .events import BugFound, CampaignFinished, CaseDone, Counts, Event, Events
from .repro import BugRecord
from .run import FuzzResult


@dataclass(frozen=True)
class CampaignBugs:
    """A campaign's bugs as it ended (its reports are on disk already)."""

    target: str
    campaign: int
    records: list[BugRecord] = field(default_factory=list)


@dataclass(frozen=True)
class CampaignFailed:
    """A campaign stopped by an error of kfuzz's own: its traceback, a failure of the run."""

    campaign: int
    traceback: str


Message = Event | CampaignBugs | CampaignFailed


def _better(new: BugRecord, old: BugRecord) -> bool:
    """The record to show for a bug two campaigns found: minimized, reliable, short."""
    def rank(rec: BugRecord) -> tuple[bool, int, int]:
        return rec.minimized, rec.reproduced, -len(rec.ops)
    return rank(new) > rank(old)


class Gather:
    """One run made of many campaigns' messages."""

    def __init__(self, events: Events):
        self.events = events
        self.started = time.monotonic()
        self.counts: dict[int, Counts] = {}  # each campaign's latest figures
        # by (target, title): the lowest-numbered campaign that found it, the best record
        self.bugs: dict[tuple[str, str], tuple[int, BugRecord]] = {}
        self.failures: list[CampaignFailed] = []

    def take(self, message: Message) -> None:
        if isinstance(message, CampaignBugs):
            for record in message.records:
                key = (message.target, record.finding.title)
                if key not in self.bugs:
                    self.bugs[key] = (message.campaign, record)
                    continue
                first, best = self.bugs[key]
                self.bugs[key] = (min(first, message.campaign), record if _better(record, best) else best)
            return
        if isinstance(message, CampaignFailed):
            self.failures.append(message)
            return
        if isinstance(message, (CaseDone, BugFound, CampaignFinished)):
            self.counts[message.campaign] = message.counts
        if isinstance(message, BugFound):
            # kept as found: a campaign that dies (or a cluster task lost) before it sends
            # its bugs has still found this one, and its report is on disk already
            key = (message.target, message.finding.title)
            if key not in self.bugs:
                self.bugs[key] = (message.campaign, BugRecord(message.finding, []))
        self.events.emit(message)

    def result(self, interrupted: bool, stopped_by: int) -> FuzzResult:
        """The run's figures: every campaign's test cases and operations, over the wall
        time of the run (so ops/s is what all of them did together)."""
        # in the order of the campaigns (the targets' order), each one's in its order
        ordered = sorted(self.bugs.items(), key=lambda item: item[1][0])
        return FuzzResult(records=[(target, record) for (target, _), (_, record) in ordered],
                          cases=sum(c.cases for c in self.counts.values()),
                          ops=sum(c.ops for c in self.counts.values()),
                          seconds=time.monotonic() - self.started,
                          interrupted=interrupted, stopped_by=stopped_by)
