"""`kfuzz fuzz --cluster ADDRESS`: campaigns as tasks on a Dask cluster, reports written here.

The campaigns are planned as on one machine (`parallel.plan`, the cluster's
worker threads as its CPUs), each job a task. What the tasks stream back goes to
one `Gather`, as local campaign processes' messages do, so the display and the
CI outputs see one run. Dask retries a task whose worker died (up to
`distributed.scheduler.allowed-failures`); whatever the lost attempt had found
was already written here as it streamed in, and the retry runs the same seed
under the same run id, so a bug it finds again counts once.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..fuzz.campaign import STOP_WITHIN, FuzzOptions
from ..fuzz.events import Events, RunFinished
from ..fuzz.gather import Gather
from ..fuzz.parallel import plan
from ..fuzz.run import FuzzResult, closure
from ..kernel import ModuleIndex
from ..report import write_report
from ..stopping import stop_signal
from .files import pack
from .messages import WriteReport, decode
from .task import CampaignTask, run_campaign

if TYPE_CHECKING:
    from distributed import Client

# how long the client waits for a connection to the scheduler
CONNECT_TIMEOUT = 10


class ClusterError(Exception):
    """A cluster that cannot be used; the message says what to do."""


def connect_cluster(address: str) -> Client:
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError(f"--cluster {address}: the distributed package is missing: "
                           "pip install 'kfuzz[cluster]'") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:
        raise ClusterError(f"--cluster {address}: cannot reach a Dask scheduler there ({err}); start one "
                           "(dask scheduler) and workers (kfuzz worker ADDRESS)") from None


def fuzz_on_cluster(address: str, targets: list[str], index: ModuleIndex, opts: FuzzOptions,
                    events: Events) -> FuzzResult:
    from distributed import Event as DaskEvent
    from distributed import Queue

    client = connect_cluster(address)
    run = uuid.uuid4().hex
    queue, stop = Queue(f"kfuzz-{run}", client=client), DaskEvent(f"kfuzz-stop-{run}", client=client)
    gather = Gather(events)
    futures: list[Any] = []
    interrupted, stopped_by = False, 0
    try:
        slots = max(1, sum(client.nthreads().values()))
        shared_opts = replace(opts, reports=opts.reports.resolve())  # the client's, as tasks name it
        for share in plan(targets, slots, opts.seed, opts.time_budget, opts.max_examples):
            for job in share:
                task = CampaignTask(job, pack(closure(index, job.target)), shared_opts, run, queue.name,
                                    stop.name)
                futures.append(client.submit(run_campaign, task, pure=False,
                                             key=f"kfuzz-{job.target}-{job.campaign}-{run}"))
        try:
            drain(futures, queue, gather)
        except KeyboardInterrupt as signal_:
            interrupted, stopped_by = True, stop_signal(signal_)
            stop.set()  # each campaign saves what it found, as a single run does
            drain(futures, queue, gather, deadline=time.monotonic() + STOP_WITHIN * 2 + 5)
    finally:
        result = gather.result(interrupted, stopped_by)
        result.failures = [failure(f) for f in futures if f.status in ("error", "lost", "cancelled")]
        result.failures += [f"campaign {c.campaign}:\n{c.traceback}" for c in gather.failures]
        events.emit(RunFinished(result.counts(), result.interrupted))
        client.cancel(futures)
        client.close()
    return result


def failure(future: Any) -> str:
    error = future.exception() if future.status == "error" else future.status
    return f"{future.key}: {error}"


def drain(futures: list[Any], queue: Any, gather: Gather, deadline: float | None = None) -> None:
    """Hands every message on until each task has ended (or the deadline passed)."""
    from distributed import wait

    while True:
        pending = [f for f in futures if not f.done()]
        for data in queue.get(batch=True):
            handle(data, gather)
        if not pending:
            for data in queue.get(batch=True):  # what the last task sent before it ended
                handle(data, gather)
            return
        if deadline is not None and time.monotonic() > deadline:
            return
        try:
            wait(pending, timeout=0.2, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass  # none ended: back to the queue


def handle(data: bytes, gather: Gather) -> None:
    msg = decode(data)
    if isinstance(msg, WriteReport):
        try:
            write_report(msg.root, msg.record, msg.when, msg.run)
        except OSError as err:
            print(f"kfuzz: cannot write the report of '{msg.record.title}': {err}", file=sys.stderr)
        return
    gather.take(msg.message)
