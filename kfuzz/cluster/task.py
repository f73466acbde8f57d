"""One campaign as a Dask task: runs on a worker, streams to its client, writes nothing.

The worker gets the module files with the task (by content and sha256) and runs
the campaign as a local campaign process does (`parallel.run_job`), in a kernel
worker of its own (fork isolation). Its messages (events, its bugs at the end)
and each report record go over the run's queue; the client writes the report
store, so a cluster run leaves the report folders that a local run would.
"""

from __future__ import annotations

import ctypes
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import HypothesisDeprecationWarning

from ..fuzz.campaign import Campaign, FuzzOptions
from ..fuzz.events import CaseDone
from ..fuzz.gather import Message
from ..fuzz.parallel import Job, RunPlan, run_job
from ..report import ReportRecord, folder_name
from .files import ModuleFile, unpack, unpack_file
from .messages import Emitted, WriteReport, encode

# a campaign's progress reaches the client at most this often; every other message at once
PROGRESS_EVERY = 0.5
# how often a task asks whether the client has told the run to stop
STOP_POLL = 1.0


@dataclass(frozen=True)
class CampaignTask:
    """What a worker needs to run one campaign, all plain data."""

    job: Job
    files: list[ModuleFile]
    opts: FuzzOptions
    run: str
    keyring: ModuleFile | None  # the kernel's keyring file, shipped as the modules are
    queue: str  # the run's Dask queue of messages
    stop: str  # the run's Dask event: set when the client stops the run


class Forwarder:
    """The campaign's outbox on a worker: sends its messages and reports to the client."""

    def __init__(self, queue: str, shown: dict[Path, Path]) -> None:
        from distributed import Queue

        self.queue = Queue(queue)
        self.shown = shown
        self.sent_progress = 0.0

    def __call__(self, message: Message) -> None:
        if isinstance(message, CaseDone):
            now = time.monotonic()
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


class StopWatcher(threading.Thread):
    """Stops the campaign, as Ctrl-C stops a local one, once the client sets the run's
    stop event: a KeyboardInterrupt raised in the task's thread wherever it is (the
    search, a minimization, a replay), once; the campaign then saves its bugs."""

    def __init__(self, stop: Any) -> None:
        super().__init__(daemon=True, name="kfuzz-stop-watcher")
        self.stop_event = stop
        self.task_thread = threading.get_ident()
        self.lock = threading.Lock()
        self.active = True
        self.over = threading.Event()

    def run(self) -> None:
        while not self.over.wait(STOP_POLL):
            try:
                told = self.stop_event.is_set()
            except Exception:  # noqa: BLE001 - the scheduler is gone: the task ends with it
                return
            if told:
                with self.lock:
                    if self.active:
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(self.task_thread), ctypes.py_object(KeyboardInterrupt))
                return

    def finish(self) -> None:
        """No interruption from now on: the campaign has ended."""
        with self.lock:
            self.active = False
        self.over.set()


def run_campaign(task: CampaignTask) -> None:
    """The task function: a campaign on this worker, to its end or the client's stop."""
    from distributed import Event as DaskEvent

    # the worker's own threads (its event loop, heartbeats) use the `random` module while
    # a draw runs; Hypothesis would take that for a strategy using it and warn every run
    warnings.filterwarnings("ignore", message="Do not use the `random` module inside strategies",
                            category=HypothesisDeprecationWarning)
    with tempfile.TemporaryDirectory(prefix="kfuzz-task-") as tmp:
        folder = Path(tmp)
        index, shown = unpack(task.files, folder)
        settings = task.opts.settings
        if task.keyring is not None:  # run with the copy here; reports name the client's file
            key = unpack_file(task.keyring, folder)
            shown[key] = Path(task.keyring.path)
            settings = {**settings, "keyring": str(key)}
        forward = Forwarder(task.queue, shown)
        set_hypothesis_home_dir(str(folder / "hypothesis"))
        # examples live in Redis when the run has one; a worker's own folder is thrown away
        opts = replace(task.opts, db_dir=None if task.opts.db_url is None else folder, settings=settings)
        watcher = StopWatcher(DaskEvent(task.stop))
        watcher.start()
        try:
            run_job(forward, task.job, RunPlan(index, opts, "fork", task.run), forward.prepare)
        except KeyboardInterrupt:
            pass  # the stop landed between the campaign's end and the watcher's
        finally:
            watcher.finish()
