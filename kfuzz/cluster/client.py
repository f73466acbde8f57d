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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..fuzz.campaign import STOP_WITHIN, FuzzOptions
from ..fuzz.events import Events, RunFinished
from ..fuzz.gather import Gather
from ..fuzz.parallel import plan, stops_held
from ..fuzz.run import FuzzResult, closure
from ..kernel import ModuleIndex
from ..report import write_report
from ..stopping import stop_signal
from .files import pack, pack_file
from .messages import WriteReport, decode
from .task import CampaignTask, run_campaign

if TYPE_CHECKING:
    from distributed import Client

# how long the client waits for a connection to the scheduler, and for a first worker
CONNECT_TIMEOUT = 10
WORKERS_TIMEOUT = 30


class ClusterError(Exception):
    """A cluster that cannot be used; the message says what to do."""


def connect_cluster(address: str) -> Client:
    """A client of the scheduler at ADDRESS with kfuzz workers ready, or a ClusterError."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError(f"--cluster {address}: the distributed package is missing: "
                           "pip install 'kfuzz[cluster]'") from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:
        raise ClusterError(f"--cluster {address}: cannot reach a Dask scheduler there ({err}); start one "
                           "(dask scheduler) and workers (kfuzz worker ADDRESS)") from None
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
    except TimeoutError:
        client.close()
        raise ClusterError(f"--cluster {address}: no worker joined in {WORKERS_TIMEOUT} s; "
                           f"start some: kfuzz worker {address}") from None
    threaded = {addr: n for addr, n in client.nthreads().items() if n != 1}
    if threaded:
        client.close()
        addr, n = next(iter(threaded.items()))
        raise ClusterError(f"--cluster {address}: worker {addr} runs {n} threads; a campaign needs a "
                           f"process of its own: start workers with kfuzz worker {address} (or dask "
                           f"worker --nthreads 1)")
    return client


def _redis_from_here(url: str) -> str:
    """Run on each worker: '' when the corpus's Redis answers there, else why not."""
    from ..fuzz.corpus import CorpusError, connect

    try:
        connect(url).close()
    except CorpusError as err:
        return str(err)
    return ""


def check_corpus(client: Client, url: str) -> None:
    """Every worker must reach the run's Redis (a localhost URL reaches each worker's own)."""
    for addr, error in client.run(_redis_from_here, url).items():
        if error:
            raise ClusterError(f"worker {addr}: {error}; give a Redis address every worker can reach")


def slots(client: Client) -> int:
    """The campaigns the cluster runs at once: its worker processes (one thread each)."""
    return max(1, sum(client.nthreads().values()))


def fuzz_on_cluster(cluster: str | Client, targets: list[str], index: ModuleIndex, opts: FuzzOptions,
                    events: Events) -> FuzzResult:
    """The run on the cluster at an address, or through a client connected already."""
    from distributed import Event as DaskEvent
    from distributed import Queue

    client = connect_cluster(cluster) if isinstance(cluster, str) else cluster
    try:
        if opts.db_url is not None:
            check_corpus(client, opts.db_url)
    except ClusterError:
        client.close()
        raise
    run = uuid.uuid4().hex
    queue, stop = Queue(f"kfuzz-{run}", client=client), DaskEvent(f"kfuzz-stop-{run}", client=client)
    gather = Gather(events)
    futures: list[Any] = []
    interrupted, stopped_by = False, 0
    try:
        shared_opts = replace(opts, reports=opts.reports.resolve())  # the client's, as tasks name it
        key = opts.settings.get("keyring")
        keyring = pack_file(Path(key)) if key else None  # a worker has no checkout: the key goes too
        for share in plan(targets, slots(client), opts.seed, opts.time_budget, opts.max_examples):
            for job in share:
                task = CampaignTask(job, pack(closure(index, job.target)), shared_opts, run, keyring,
                                    queue.name, stop.name)
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
        queue.close()  # what a task still sends after this is dropped by the scheduler
        client.close()
    return result


def failure(future: Any) -> str:
    error = future.exception() if future.status == "error" else future.status
    return f"{future.key}: {error}"


def drain(futures: list[Any], queue: Any, gather: Gather, deadline: float | None = None) -> None:
    """Hands every message on until each task has ended (or the deadline passed)."""
    from distributed import wait

    while True:
        # taken before the queue is read: a task's puts are on the scheduler before it is
        # done, so once none is pending, this read has the last of what they sent
        pending = [f for f in futures if not f.done()]
        with stops_held():  # a Ctrl-C waits out a batch being taken off the queue
            batch = queue.get(batch=True)
        for data in batch:
            handle(data, gather)
        if not pending:
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
