"""One campaign as a Dask task: runs on a worker, streams to its client, writes nothing.

The worker gets the module files with the task (by content and sha256) and runs
the campaign as a local campaign process does (`parallel.run_job`), in a kernel
worker of its own (fork isolation). Its messages (events, its bugs at the end)
and each report record go over the run's queue; the client writes the report
store, so a cluster run leaves the report folders that a local run would.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

from ..fuzz.campaign import Campaign, FuzzOptions
from ..fuzz.events import CaseDone
from ..fuzz.gather import Message
from ..fuzz.parallel import Job, RunPlan, run_job
from ..report import ReportRecord, folder_name
from .files import ModuleFile, unpack
from .messages import Emitted, WriteReport, encode

# a campaign's progress reaches the client at most this often; every other message at once
PROGRESS_EVERY = 0.5
# how often a running campaign asks whether the client has told the run to stop
STOP_POLL = 1.0


@dataclass(frozen=True)
class CampaignTask:
    """What a worker needs to run one campaign, all plain data."""

    job: Job
    files: list[ModuleFile]
    opts: FuzzOptions
    run: str
    queue: str  # the run's Dask queue of messages
    stop: str  # the run's Dask event: set when the client stops the run


class Forwarder:
    """The campaign's outbox on a worker: sends its messages and reports to the client,
    and stops the campaign (as Ctrl-C would) once the client has set the stop event."""

    def __init__(self, queue: str, stop: str, shown: dict[Path, Path]) -> None:
        from distributed import Event as DaskEvent
        from distributed import Queue

        self.queue = Queue(queue)
        self.stop = DaskEvent(stop)
        self.shown = shown
        self.sent_progress = 0.0
        self.polled = time.monotonic()
        self.stopping = False  # told once; what follows (saving the bugs) must go on

    def __call__(self, message: Message) -> None:
        now = time.monotonic()
        if not self.stopping and now - self.polled >= STOP_POLL:
            self.polled = now
            if self.stop.is_set():
                self.stopping = True
                raise KeyboardInterrupt()
        if isinstance(message, CaseDone):
            if now - self.sent_progress < PROGRESS_EVERY:
                return
            self.sent_progress = now
        self.queue.put(encode(Emitted(message)))

    def write(self, root: Path, record: ReportRecord, now: str, run: str | None = None) -> Path:
        self.queue.put(encode(WriteReport(root, record, now, run)))
        return root / folder_name(record.kind, record.title)

    def prepare(self, campaign: Campaign) -> None:
        campaign.repro.sink = self.write
        campaign.repro.shown_as = self.shown


def run_campaign(task: CampaignTask) -> None:
    """The task function: a campaign on this worker, to its end or the client's stop."""
    with tempfile.TemporaryDirectory(prefix="kfuzz-task-") as tmp:
        folder = Path(tmp)
        index, shown = unpack(task.files, folder)
        forward = Forwarder(task.queue, task.stop, shown)
        set_hypothesis_home_dir(str(folder / "hypothesis"))
        # examples live in Redis when the run has one; a worker's own folder is thrown away
        opts = replace(task.opts, db_dir=None if task.opts.db_url is None else folder)
        run_job(forward, task.job, RunPlan(index, opts, "fork", task.run), forward.prepare)
