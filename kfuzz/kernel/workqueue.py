"""Work items and workqueues: deferred work that runs in process context."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import titles
from .current import Task, current
from .faults import should_fail
from .frames import Site, caller_site
from .subsystem import Leftover, fname
from .timer import Timer

if TYPE_CHECKING:
    from .core import Kernel
    from .module import Module

MAX_WORK_PER_RUN = 10_000


@dataclass(eq=False)
class Work:
    func: Callable[[Work], object]
    pending: bool = False
    queue: Workqueue | None = None
    owner: Module | None = None
    site: Site | None = None
    data: Any = None  # the driver's: whatever it sets, for its work function to read back

    def __repr__(self) -> str:
        return f"<work {getattr(self.func, '__name__', '?')}>"


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

    def __repr__(self) -> str:
        return f"<workqueue {self.name}>"


class Workqueues:
    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.system = Workqueue("events")
        self.queues: list[Workqueue] = []

    def queue(self, wq: Workqueue, work: Work) -> bool:
        if wq.destroyed:
            self.kernel.warn(titles.QUEUE_WORK_DESTROYED,
                             f"queue_work() on destroyed {wq!r}")
            return False
        if work.pending:
            return False
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
        kernel = self.kernel
        if work.queue is not None and work in work.queue.items:
            work.queue.items.remove(work)
        work.pending = False
        # work runs on a kworker, not on the task that queued or flushes it; work run from
        # work (a flush) on another kworker
        nested = kernel.task is not kernel.user
        worker = Task("kworker/0:2", 3) if nested else kernel.kworker
        task, kernel.task = kernel.task, worker
        try:
            kernel.call(work.func, work)
            if worker.held:
                kernel.locking.check_released(titles.WORKQUEUE_LEAKED_LOCK, [
                    f"BUG: workqueue leaked atomic, lock or RCU: {worker.comm}[{worker.pid}]",
                    f"     preempt=0x{worker.preempt:08x} lock=0->{len(worker.held)} RCU=0 "
                    f"workfn={fname(work.func)}"])
        finally:
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


def INIT_WORK(func: Callable[[Work], object]) -> Work:
    return Work(func, owner=current().current_module(), site=caller_site())


def INIT_DELAYED_WORK(func: Callable[[Work], object]) -> DelayedWork:
    return DelayedWork(func, owner=current().current_module(), site=caller_site())


def alloc_workqueue(name: str, flags: int = 0, max_active: int = 0) -> Workqueue | None:
    kernel = current()
    if should_fail("alloc_workqueue"):
        return None
    wq = Workqueue(name, owner=kernel.current_module(), site=caller_site())
    kernel.workqueues.queues.append(wq)
    return wq


create_singlethread_workqueue = alloc_workqueue


def queue_work(wq: Workqueue, work: Work) -> bool:
    return current().workqueues.queue(wq, work)


def schedule_work(work: Work) -> bool:
    wqs = current().workqueues
    return wqs.queue(wqs.system, work)


def queue_delayed_work(wq: Workqueue, dwork: DelayedWork, delay: int) -> bool:
    kernel = current()
    if dwork.pending or (dwork.timer is not None and dwork.timer.pending):
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
    kernel = current()
    kernel.locking.might_sleep()
    return kernel.workqueues.cancel(work)


def cancel_delayed_work_sync(dwork: DelayedWork) -> bool:
    return cancel_work_sync(dwork)


def cancel_delayed_work(dwork: DelayedWork) -> bool:
    return current().workqueues.cancel(dwork)


def flush_work(work: Work) -> bool:
    kernel = current()
    kernel.locking.might_sleep()
    if not work.pending:
        return False
    kernel.workqueues.run_one(work)
    return True


def flush_workqueue(wq: Workqueue) -> None:
    kernel = current()
    kernel.locking.might_sleep()
    kernel.workqueues.run_queue(wq)


def flush_scheduled_work() -> None:
    flush_workqueue(current().workqueues.system)


def destroy_workqueue(wq: Workqueue) -> None:
    kernel = current()
    flush_workqueue(wq)
    wq.destroyed = True
    if wq in kernel.workqueues.queues:
        kernel.workqueues.queues.remove(wq)
