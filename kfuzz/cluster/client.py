"""`kfuzz fuzz --cluster ADDRESS`: campaigns as tasks on a Dask cluster, reports written here.

Dask retries a task whose worker died (up to `distributed.scheduler.allowed-failures`);
whatever the lost attempt had found was already written here, as it streamed in,
and the retry runs the same seed under the same run id, so a bug it finds again
counts once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..fuzz.campaign import STOP_WITHIN, FuzzOptions
from ..fuzz.events import Events, RunFinished
from ..fuzz.run import FuzzResult, closure
from ..kernel import ModuleIndex
from ..report import write_report
from ..stopping import stop_signal
from .files import pack
from .messages import Emitted, WriteReport, decode
from .task import CampaignResult, CampaignTask, run_campaign

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
    except (OSError, TimeoutError) as err:
        raise ClusterError(f"--cluster {address}: cannot reach a Dask scheduler there ({err}); start one "
                           "(dask scheduler) and workers (kfuzz worker ADDRESS)") from None


def plan(targets: list[str], slots: int, seed: int) -> list[tuple[str, int]]:
    """(target, seed) of each campaign: one per target, and with fewer targets than
    slots, several per target, campaign i with seed + i."""
    count = max(len(targets), slots)
    return [(targets[i % len(targets)], seed + i) for i in range(count)]


def budget_share(time_budget: float | None, campaigns: int, slots: int) -> float | None:
    """Each campaign's seconds: the run's budget, as campaigns share the slots."""
    if time_budget is None:
        return None
    return time_budget * min(slots, campaigns) / campaigns


def fuzz_on_cluster(address: str, targets: list[str], index: ModuleIndex, opts: FuzzOptions,
                    events: Events) -> FuzzResult:
    from distributed import Event as DaskEvent
    from distributed import Queue

    client = connect_cluster(address)
    result = FuzzResult()
    run = uuid.uuid4().hex
    queue, stop = Queue(f"kfuzz-{run}", client=client), DaskEvent(f"kfuzz-stop-{run}", client=client)
    futures: list[Any] = []
    try:
        slots = max(1, sum(client.nthreads().values()))
        campaigns = plan(targets, slots, opts.seed)
        share = budget_share(opts.time_budget, len(campaigns), slots)
        reports = opts.reports.resolve()
        for target, seed in campaigns:
            task = CampaignTask(target, pack(closure(index, target)),
                                replace(opts, seed=seed, reports=reports), share, run, queue.name, stop.name)
            futures.append(client.submit(run_campaign, task, pure=False, key=f"kfuzz-{target}-{seed}-{run}"))
        try:
            drain(futures, queue, events)
        except KeyboardInterrupt as signal_:
            result.interrupted, result.stopped_by = True, stop_signal(signal_)
            stop.set()
            drain(futures, queue, events, deadline=time.monotonic() + STOP_WITHIN * 2 + 5)
        for future in futures:
            collect(future, result)
    finally:
        events.emit(RunFinished(result.counts(), result.interrupted))
        client.cancel(futures)
        client.close()
    return result


def drain(futures: list[Any], queue: Any, events: Events, deadline: float | None = None) -> None:
    """Handles messages until every campaign has ended (or the deadline passed)."""
    from distributed import wait

    while True:
        pending = [f for f in futures if not f.done()]
        for data in queue.get(batch=True):
            handle(decode(data), events)
        if not pending or (deadline is not None and time.monotonic() > deadline):
            if not pending:
                for data in queue.get(batch=True):  # what the last campaign sent before it ended
                    handle(decode(data), events)
            return
        try:
            wait(pending, timeout=0.2, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass  # none ended: back to the queue


def handle(msg: WriteReport | Emitted, events: Events) -> None:
    if isinstance(msg, WriteReport):
        try:
            write_report(msg.root, msg.record, msg.when, msg.run)
        except OSError as err:
            print(f"kfuzz: cannot write the report of '{msg.record.title}': {err}")
        return
    events.emit(msg.event)


def collect(future: Any, result: FuzzResult) -> None:
    """Adds a finished campaign's figures and bugs; a campaign that failed is said so."""
    if not future.done() or future.status != "finished":
        error = future.exception() if future.status == "error" else future.status
        result.failures.append(f"{future.key}: {error}")
        return
    done: CampaignResult = future.result()
    result.cases += done.cases
    result.ops += done.ops
    result.seconds = max(result.seconds, done.seconds)
    seen = {bug.finding.title for _, bug in result.records}
    result.records += [(done.target, bug) for bug in done.records if bug.finding.title not in seen]

