"""One campaign as a Dask task: runs on a worker, streams to its client, writes nothing.

The worker gets the module files with the task (by content and sha256), runs the
campaign in a kernel worker of its own (fork isolation), and sends each event and
each finished report record over the run's queue. The client writes the report
store, so a cluster run leaves the report folders that a local run would.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

from ..executor import make_executor
from ..fuzz.campaign import Campaign, FuzzOptions
from ..fuzz.events import CaseDone, Event, Events
from ..fuzz.repro import BugRecord
from ..report import ReportRecord, folder_name
from .files import ModuleFile, unpack
from .messages import Emitted, Message, WriteReport, encode

# a campaign's progress reaches the client at most this often; every other event at once
PROGRESS_EVERY = 0.5
# how often a running campaign asks whether the client has told the run to stop
STOP_POLL = 1.0


@dataclass(frozen=True)
class CampaignTask:
    """What a worker needs to run one campaign, all plain data."""

    target: str
    files: list[ModuleFile]
    opts: FuzzOptions
    time_budget: float | None
    run: str
    queue: str  # the run's Dask queue of messages
    stop: str  # the run's Dask event: set when the client stops the run


@dataclass(frozen=True)
class CampaignResult:
    target: str
    seed: int
    records: list[BugRecord]
    cases: int
    ops: int
    seconds: float
    interrupted: bool


class Forwarder:
    """The campaign's listener on a worker: sends events on, and stops the campaign
    (as Ctrl-C would) once the client has set the run's stop event."""

    def __init__(self, queue: str, stop: str) -> None:
        from distributed import Event as DaskEvent
        from distributed import Queue

        self.queue = Queue(queue)
        self.stop = DaskEvent(stop)
        self.sent_progress = 0.0
        self.polled = time.monotonic()
        self.stopping = False  # told once; what follows (saving the bugs) must go on

    def send(self, msg: Message) -> None:
        self.queue.put(encode(msg))

    def __call__(self, event: Event) -> None:
        now = time.monotonic()
        if not self.stopping and now - self.polled >= STOP_POLL:
            self.polled = now
            if self.stop.is_set():
                self.stopping = True
                raise KeyboardInterrupt()
        if isinstance(event, CaseDone):
            if now - self.sent_progress < PROGRESS_EVERY:
                return
            self.sent_progress = now
        self.send(Emitted(event))

    def write(self, root: Path, record: ReportRecord, now: str, run: str | None = None) -> Path:
        self.send(WriteReport(root, record, now, run))
        return root / folder_name(record.kind, record.title)


def run_campaign(task: CampaignTask) -> CampaignResult:
    """The task function: a campaign on this worker, to its end or the client's stop."""
    forward = Forwarder(task.queue, task.stop)
    with tempfile.TemporaryDirectory(prefix="kfuzz-task-") as tmp:
        folder = Path(tmp)
        index, shown = unpack(task.files, folder)
        set_hypothesis_home_dir(str(folder / "hypothesis"))
        # examples live in Redis when the run has one; a worker's own folder is thrown away
        opts = replace(task.opts, db_dir=None if task.opts.db_url is None else folder)
        executor = make_executor("fork", index, opts.op_timeout)
        campaign = Campaign(task.target, index, executor, opts, Events(forward), task.time_budget, task.run)
        campaign.repro.sink = forward.write
        campaign.repro.shown_as = shown
        interrupted = False
        try:
            campaign.run()
        except KeyboardInterrupt:
            interrupted = True
            campaign.save_what_was_found()
        finally:
            executor.close()
        return CampaignResult(task.target, opts.seed, list(campaign.bugs.values()), campaign.stats.cases,
                              campaign.stats.ops, campaign.stats.elapsed, interrupted)
