"""Work items and workqueues: deferred work that runs in process context."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import titles
from .current import Task, current
from .faults import should_fail
from .frames import Site, caller_site
from .lockdep import LockdepMap
from .misuse import expect, misuse
from .sched import Wait
from .subsystem import Leftover, fname
from .timer import Timer

if TYPE_CHECKING:
    from .core import Kernel
    from .module import Module

MAX_WORK_PER_RUN = 10_000
WQ_MEM_RECLAIM = 1 << 3  # include/linux/workqueue.h: the queue has a rescuer
# who holds a work's maps while it runs, as a lockdep report names it
PROCESS_ONE_WORK = Site("kernel", "process_one_work", "<kernel>", 0)


@dataclass(eq=False)
class Work:
    func: Callable[[Work], object]
    pending: bool = False
    queue: Workqueue | None = None
    owner: Module | None = None
    site: Site | None = None
    data: Any = None  # the driver's: whatever it sets, for its work function to read back
    map: LockdepMap | None = None  # its lockdep map: the work runs under it, flush_work takes it
    running: Task | None = None  # the kworker running it now
    canceling: bool = False  # in cancel_work_sync: queueing it fails (WORK_OFFQ_CANCELING)

    def __repr__(self) -> str:
        return f"<work {getattr(self.func, '__name__', '?')}>"


def wait_running(kernel: Kernel, work: Work, call: str) -> None:
    """`__flush_work` of a work running on another kworker: wait until it is done."""
    running = work.running
    if running is not None and running is not kernel.task:
        kernel.sched.block(Wait(f"{call}: {work!r} runs on {running.comm}:{running.pid}",
                                lambda: work.running is None))
    if kernel.kcsan is not None:
        kernel.kcsan.acquire(work)


@dataclass(eq=False)
class DelayedWork(Work):
    timer: Timer | None = None


@dataclass(eq=False)
class Workqueue:
    name: str
    items: list[Work] = field(default_factory=list)
    owner: Module | None = None
    site: Site | None = None
    destroyed: bool = False
    map: LockdepMap | None = None  # its lockdep map, a class of its own (wq_init_lockdep)
    flags: int = 0
    max_active: int = 0
    running: list[Work] = field(default_factory=list)  # its works running now, on kworkers

    def __repr__(self) -> str:
        return f"<workqueue {self.name}>"

    @property
    def ordered(self) -> bool:
        """One work at a time, or a rescuer: flushing one of its works from another of
        them can deadlock, so flush_work takes the queue's map too (start_flush_work)."""
        return self.max_active == 1 or bool(self.flags & WQ_MEM_RECLAIM)


class Workqueues:
    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.system = Workqueue("events", map=wq_map(kernel, "events"))
        self.queues: list[Workqueue] = []

    def queue(self, wq: Workqueue, work: Work) -> bool:
        if wq.destroyed:
            self.kernel.warn(titles.QUEUE_WORK_DESTROYED,
                             f"queue_work() on destroyed {wq!r}")
            return False
        if work.pending or work.canceling:
            return False
        if self.kernel.kcsan is not None:
            self.kernel.kcsan.release(work)  # queueing happens before the work runs
        work.pending, work.queue = True, wq
        wq.items.append(work)
        return True

    def cancel(self, work: Work) -> bool:
        was = False
        if isinstance(work, DelayedWork) and work.timer is not None:
            was = bool(self.kernel.timers.disarm(work.timer))
        if work.pending and work.queue is not None:
            work.queue.items.remove(work)
            work.pending = False
            was = True
        return was

    def run_one(self, work: Work) -> None:
        """`process_one_work`: in a kworker of its own (no lock of whoever flushed it is
        held there), under the queue's map and then the work's."""
        kernel = self.kernel
        wq = work.queue
        if wq is not None and work in wq.items:
            wq.items.remove(work)
        work.pending = False
        # work runs on a kworker, not on the task that queued or flushes it; work run from
        # work (a flush) on another kworker
        nested = kernel.task is not kernel.user
        worker = Task("kworker/0:2", 3) if nested else kernel.kworker
        if kernel.kcsan is not None:
            kernel.kcsan.acquire(work)
        task, kernel.task = kernel.task, worker
        work.running = worker
        if wq is not None:
            wq.running.append(work)
        try:
            with kernel.locking.map_held(wq.map if wq else None, work.map, by=PROCESS_ONE_WORK):
                kernel.call(work.func, work)
            if worker.held:
                kernel.locking.check_released(titles.WORKQUEUE_LEAKED_LOCK, [
                    f"BUG: workqueue leaked atomic, lock or RCU: {worker.comm}[{worker.pid}]",
                    f"     preempt=0x{worker.preempt:08x} lock=0->{len(worker.held)} RCU=0 "
                    f"workfn={fname(work.func)}"])
        finally:
            work.running = None
            if kernel.kcsan is not None:  # the run happens before a flush or cancel_work_sync returns
                kernel.kcsan.release(work)
                if wq is not None:
                    kernel.kcsan.release(wq)
            if wq is not None and work in wq.running:
                wq.running.remove(work)
            kernel.task = task
            if nested:
                kernel.locking.drop_all(worker)

    def run_queue(self, wq: Workqueue) -> None:
        for _ in range(MAX_WORK_PER_RUN):
            if not wq.items:
                return
            self.run_one(wq.items[0])
        self.kernel.log.write(f"workqueue {wq.name}: work requeues itself without end")

    def run_all(self) -> None:
        for wq in [self.system, *self.queues]:
            if wq.items:
                self.run_queue(wq)

    def owned_queues(self, mod: Module) -> list[Workqueue]:
        return [q for q in self.queues if q.owner is mod]

    def owned_work(self, mod: Module) -> list[Work]:
        items = [w for q in [self.system, *self.queues] for w in q.items if w.owner is mod]
        return items

    def leftovers(self, mod: Module) -> list[Leftover]:
        """Queued work, then the module's own queues (a delayed work's armed timer is the
        timers' to report)."""
        return ([Leftover("work", fname(w.func), w.site) for w in self.owned_work(mod)]
                + [Leftover("workqueue", q.name, q.site) for q in self.owned_queues(mod)])

    def owners(self) -> Iterable[Module | None]:
        yield from (w.owner for q in [self.system, *self.queues] for w in q.items)
        yield from (q.owner for q in self.queues)


def wq_map(kernel: Kernel, name: str) -> LockdepMap:
    """A workqueue's map: a class of its own, named as `wq_init_lockdep` names it."""
    return kernel.locking.new_map(f"(wq_completion){name}", own_key=True)


def work_map(kernel: Kernel, func: Callable[[Work], object]) -> LockdepMap:
    """A work's map: its class is its init site, as `INIT_WORK`'s static key is."""
    return kernel.locking.new_map(f"(work_completion){fname(func)}")


def INIT_WORK(func: Callable[[Work], object]) -> Work:
    if not callable(func):
        raise misuse("INIT_WORK", "func", func, "a function: work = INIT_WORK(func)")
    kernel = current()
    site = caller_site()
    return Work(func, owner=kernel.current_module(), site=site, map=work_map(kernel, func))


def INIT_DELAYED_WORK(func: Callable[[Work], object]) -> DelayedWork:
    if not callable(func):
        raise misuse("INIT_DELAYED_WORK", "func", func, "a function: dwork = INIT_DELAYED_WORK(func)")
    kernel = current()
    site = caller_site()
    return DelayedWork(func, owner=kernel.current_module(), site=site, map=work_map(kernel, func))


def alloc_workqueue(name: str, flags: int = 0, max_active: int = 0) -> Workqueue | None:
    kernel = current()
    kernel.locking.might_sleep("alloc_workqueue")
    if should_fail("alloc_workqueue"):
        return None
    wq = Workqueue(name, owner=kernel.current_module(), site=caller_site(), map=wq_map(kernel, name),
                   flags=int(flags), max_active=int(max_active))
    kernel.workqueues.queues.append(wq)
    return wq


def create_singlethread_workqueue(name: str) -> Workqueue | None:
    """An ordered queue with a rescuer, as `alloc_ordered_workqueue(WQ_MEM_RECLAIM)`."""
    return alloc_workqueue(name, WQ_MEM_RECLAIM, 1)


def queue_work(wq: Workqueue, work: Work) -> bool:
    expect("queue_work", "the workqueue", wq, Workqueue, "a Workqueue (alloc_workqueue())")
    expect("queue_work", "the work", work, Work, "a Work (INIT_WORK())")
    return current().workqueues.queue(wq, work)


def schedule_work(work: Work) -> bool:
    expect("schedule_work", "the work", work, Work, "a Work (INIT_WORK())")
    wqs = current().workqueues
    return wqs.queue(wqs.system, work)


def queue_delayed_work(wq: Workqueue, dwork: DelayedWork, delay: int) -> bool:
    kernel = current()
    if dwork.pending or dwork.canceling or (dwork.timer is not None and dwork.timer.pending):
        return False
    if delay <= 0:
        return kernel.workqueues.queue(wq, dwork)
    wqs = kernel.workqueues
    if dwork.timer is None:
        dwork.timer = Timer(lambda _t: wqs.queue(dwork.queue or wqs.system, dwork),
                            owner=dwork.owner, site=dwork.site, data=dwork,
                            what="delayed work", name=fname(dwork.func))
    dwork.queue = wq
    kernel.timers.arm(dwork.timer, kernel.jiffies + int(delay))
    return True


def schedule_delayed_work(dwork: DelayedWork, delay: int) -> bool:
    return queue_delayed_work(current().workqueues.system, dwork, delay)


def cancel_work_sync(work: Work) -> bool:
    """Cancels, then waits for a run in progress: it takes the work's map as flush_work
    does (`__flush_work`; Linux 6.9 on takes it only while the work is running, which on
    more than one CPU it may be at any call). Until it returns the work is marked
    canceling, and queueing it fails (kernel/workqueue.c `__cancel_work_sync`): a run in
    progress that queues its work again (a poll) leaves it idle, not pending."""
    kernel = current()
    kernel.locking.might_sleep("cancel_work_sync")
    was = kernel.workqueues.cancel(work)
    work.canceling = True
    try:
        if work.map is not None:
            kernel.locking.touch_map(work.map)
        wait_running(kernel, work, "cancel_work_sync")
    finally:
        work.canceling = False
    return was


def cancel_delayed_work_sync(dwork: DelayedWork) -> bool:
    return cancel_work_sync(dwork)


def cancel_work(work: Work) -> bool:
    """Cancels without waiting for a run in progress: no map, no sleep."""
    return current().workqueues.cancel(work)


def cancel_delayed_work(dwork: DelayedWork) -> bool:
    return current().workqueues.cancel(dwork)


def flush_work(work: Work) -> bool:
    """Waits for the work: takes its map, and its queue's when the queue is ordered
    (start_flush_work in kernel/workqueue.c), then runs it if it is queued."""
    kernel = current()
    locking = kernel.locking
    locking.might_sleep("flush_work")
    if work.map is not None:
        locking.touch_map(work.map)
    wq = work.queue
    if work.pending and wq is not None and wq.ordered and wq.map is not None:
        locking.touch_map(wq.map)
    if not work.pending:
        running = work.running is not None and work.running is not kernel.task
        wait_running(kernel, work, "flush_work")
        return running
    kernel.workqueues.run_one(work)
    return True


def flush_workqueue(wq: Workqueue) -> None:
    """`__flush_workqueue`: takes the queue's map, then runs what is queued."""
    kernel = current()
    kernel.locking.might_sleep("flush_workqueue")
    if wq.map is not None:
        kernel.locking.touch_map(wq.map)
    kernel.workqueues.run_queue(wq)
    others = [w for w in wq.running if w.running is not kernel.task]
    if others:  # works of the queue running on other kworkers: flushed when they end
        kernel.sched.block(Wait(f"flush_workqueue: {len(others)} work(s) of {wq!r} running",
                                lambda: not any(w in wq.running for w in others)))
    if kernel.kcsan is not None:
        kernel.kcsan.acquire(wq)


def flush_scheduled_work() -> None:
    flush_workqueue(current().workqueues.system)


def destroy_workqueue(wq: Workqueue) -> None:
    """Drains the queue (a flush, map and all), then its class dies with it
    (`wq_unregister_lockdep`): the orders seen through it are forgotten."""
    kernel = current()
    kernel.locking.might_sleep("destroy_workqueue")
    flush_workqueue(wq)
    if wq.map is not None:
        kernel.locking.free_map(wq.map)
    wq.destroyed = True
    if wq in kernel.workqueues.queues:
        kernel.workqueues.queues.remove(wq)
