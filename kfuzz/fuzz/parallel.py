"""`kfuzz fuzz --workers N`: campaigns in N processes, each pinned to a CPU of its own.

Each campaign process is forked from the warm parent (modules read and compiled)
as the kernel workers are (executor/child.py): it keeps only its end of a pipe,
dies with the parent (PR_SET_PDEATHSIG), and sits in its own session, so a
signal to the process group reaches the parent alone, which decides. It runs
its campaigns as a single-process run would, writing each report the moment a
bug is found (the store's lock keeps campaigns from tearing a folder or counting
a bug twice), and sends its events, plain data, up the pipe. The parent renders
(gather.py); on Ctrl-C or SIGTERM it passes the signal on, waits for the bugs
to be saved as a single run saves them, and ends whatever is left.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from types import FrameType

from ..executor import make_executor
from ..executor.child import Child
from ..kernel import ModuleIndex
from ..stopping import Terminated, stop_signal
from .campaign import STOP_WITHIN, Campaign, FuzzOptions
from .events import Events, RunFinished
from .gather import CampaignBugs, CampaignFailed, Gather, Message
from .run import FuzzResult, closure

STOPS = {signal.SIGINT, signal.SIGTERM}


@dataclass(frozen=True)
class Job:
    """One campaign: its target, seed, number in the run and budget."""

    target: str
    seed: int
    campaign: int
    time_budget: float | None
    max_examples: int | None


def _split(total: int | None, parts: int, part: int) -> int | None:
    """Part `part` of `total` test cases shared among `parts` campaigns."""
    if total is None:
        return None
    return max(1, total // parts + (part < total % parts))


def plan(targets: list[str], workers: int, seed: int, time_budget: float | None,
         max_examples: int | None) -> list[list[Job]]:
    """The jobs of each of `workers` processes. With at least as many targets as
    workers, each target has one campaign, with the run's seed, and a process runs
    its targets one after another in its share of the time; with fewer, every
    process runs one campaign, a target's k-th with seed + k, and a target's
    --max-examples is shared among its campaigns."""
    if len(targets) >= workers:
        shares: list[list[Job]] = []
        for w in range(workers):
            mine = list(range(w, len(targets), workers))
            budget = time_budget / len(mine) if time_budget else None
            shares.append([Job(targets[i], seed, i, budget, max_examples) for i in mine])
        return shares
    jobs = []
    for i in range(workers):
        t, k = i % len(targets), i // len(targets)
        campaigns = len(range(t, workers, len(targets)))
        jobs.append([Job(targets[t], seed + k, i, time_budget, _split(max_examples, campaigns, k))])
    return jobs


def usable_cpus() -> list[int]:
    """The CPUs this process may run on."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]


def default_workers() -> int:
    return len(usable_cpus())


def _pin(cpu: int) -> None:
    """This process (and the kernel workers it forks) on one CPU."""
    try:
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        pass  # not Linux, or the CPU was taken away: the scheduler places it


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextmanager
def stops_held() -> Iterator[None]:
    """A stop signal that comes during the block is handled after it."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class Outbox:
    """The campaign's end of the pipe. A stop signal waits out a message being sent,
    so the parent never reads half of one."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def send(self, message: Message) -> None:
        with stops_held():
            try:
                self.conn.send(message)
            except OSError:
                pass  # the parent is gone; PR_SET_PDEATHSIG ends this process


@dataclass
class RunPlan:
    """What every campaign process shares: the modules, the options, the run's id."""

    index: ModuleIndex
    opts: FuzzOptions
    isolation: str
    run: str


def _campaign_main(out: Outbox, jobs: list[Job], cpu: int, shared: RunPlan) -> None:
    _pin(cpu)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # only the parent sends them
    signal.signal(signal.SIGTERM, _terminated)
    job = jobs[0]
    try:
        for job in jobs:
            if not run_job(out.send, job, shared):
                return
    except KeyboardInterrupt:
        return  # between two campaigns: nothing found is unsaved
    except Exception:  # noqa: BLE001 - a kfuzz bug: the parent raises it
        out.send(CampaignFailed(job.campaign, traceback.format_exc()))


def run_job(send: Callable[[Message], None], job: Job, shared: RunPlan,
            prepare: Callable[[Campaign], None] | None = None) -> bool:
    """One campaign, as a single-process run runs it, its messages to `send` (a pipe
    here; a cluster's task streams them to its client's Gather, and `prepare`s the
    campaign to send its reports there too); False once stopped."""
    scope = closure(shared.index, job.target)
    executor = make_executor(shared.isolation, scope, shared.opts.op_timeout)
    opts = replace(shared.opts, seed=job.seed, max_examples=job.max_examples)
    campaign = Campaign(job.target, scope, executor, opts, Events(send), job.time_budget,
                        shared.run, job.campaign)
    campaign.repro.seed = shared.opts.seed  # a report names the seed of the run (repro-format.md)
    if prepare is not None:
        prepare(campaign)
    try:
        send(CampaignBugs(job.target, job.campaign, campaign.run()))
        return True
    except KeyboardInterrupt:
        campaign.save_what_was_found()
        send(CampaignBugs(job.target, job.campaign, list(campaign.bugs.values())))
        return False
    finally:
        with stops_held():  # the process ends with os._exit: no finalizer would close it
            executor.close()


class CampaignProcess:
    """The parent's handle on one campaign process."""

    def __init__(self, jobs: list[Job], cpu: int, shared: RunPlan):
        reader, writer = multiprocessing.Pipe(duplex=False)
        gc.freeze()  # the child's collector leaves the inherited heap alone (no copy-on-write)
        try:
            self.child = Child(lambda: _campaign_main(Outbox(writer), jobs, cpu, shared),
                               keep=(writer.fileno(),))
        finally:
            gc.unfreeze()
            writer.close()
        self.conn = reader
        self.open = True
        self.jobs = jobs
        self.done = False  # its last campaign sent its bugs

    def death(self) -> str:
        """Why it ended before its last campaign did, and what never ran."""
        left = ", ".join(f"{j.target} (seed {j.seed})" for j in self.jobs)
        return (f"the campaign process died (exit status {self.child.exitcode}) before it ended; "
                f"its jobs: {left}")

    def stop(self, signum: int) -> None:
        if self.child.is_alive():
            try:
                os.kill(self.child.pid, signum)
            except ProcessLookupError:
                pass

    def end(self) -> None:
        """Kills it if it still runs, and reaps it."""
        self.child.kill()
        self.child.wait(5)
        self.conn.close()
        self.open = False


def drain(procs: list[CampaignProcess], gather: Gather, deadline: float | None = None) -> None:
    """Hands every message to `gather` until each process has closed its pipe (it
    ended), or until the deadline."""
    by_conn = {p.conn: p for p in procs if p.open}
    while by_conn:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready = wait(list(by_conn), left)
        if not ready and deadline is not None and time.monotonic() >= deadline:
            return
        for conn in ready:
            proc = by_conn[conn]  # type: ignore[index]
            try:
                with stops_held():  # a Ctrl-C waits out the message being read
                    message: Message = proc.conn.recv()
            except Exception:  # noqa: BLE001 - EOF, or a message cut off by a kill
                del by_conn[proc.conn]
                proc.end()
                if not proc.done and proc.child.exitcode != 0:  # killed, or crashed: not ended
                    gather.failures.append(CampaignFailed(proc.jobs[0].campaign, proc.death()))
                continue
            if isinstance(message, CampaignFailed) or (
                    isinstance(message, CampaignBugs) and message.campaign == proc.jobs[-1].campaign):
                proc.done = True  # its last job ended (or it failed, and said why): what follows is its end
            gather.take(message)


def fuzz_parallel(targets: list[str], index: ModuleIndex, opts: FuzzOptions, events: Events,
                  isolation: str, workers: int, run: str) -> FuzzResult:
    gather = Gather(events)
    shared = RunPlan(index, opts, isolation, run)
    cpus = usable_cpus()
    procs: list[CampaignProcess] = []
    interrupted, stopped_by = False, 0
    try:
        try:
            for n, jobs in enumerate(plan(targets, workers, opts.seed, opts.time_budget, opts.max_examples)):
                procs.append(CampaignProcess(jobs, cpus[n % len(cpus)], shared))
            drain(procs, gather)
        except KeyboardInterrupt as stop:
            interrupted, stopped_by = True, stop_signal(stop)
            for proc in procs:
                proc.stop(stopped_by)
            # each campaign saves what it found within STOP_WITHIN, as a single run does
            drain(procs, gather, time.monotonic() + STOP_WITHIN + 0.5)
    finally:
        for proc in procs:
            proc.end()
        result = gather.result(interrupted, stopped_by)
        events.emit(RunFinished(result.counts(), result.interrupted))
    # a campaign that failed is said, and fails the run; the others' bugs stand
    result.failures = [f"campaign {f.campaign}: {f.traceback}" for f in gather.failures]
    return result
