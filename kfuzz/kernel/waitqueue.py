"""Wait queues: a task sleeps until another wakes it and its condition holds.

As include/linux/wait.h and kernel/sched/wait.c: `wait_event*` checks the condition,
then sleeps on the queue until a `wake_up*` of that queue wakes it, checks again, and
so on. A waiter is woken only by a wake-up of its queue, never by the condition
alone, so a driver that makes the condition true and forgets to wake the queue
leaves its waiter asleep (a `hang` when nothing else can wake it). The condition
is a callable, `wait_event(dev.wq, lambda: dev.ready)`, for C's macro argument.

The open-coded wait is here too: `wait = DEFINE_WAIT()`, `prepare_to_wait(wq, wait,
TASK_INTERRUPTIBLE)` (the entry queued, the task's state set), then
`schedule_timeout(t)` sleeps until a wake-up of the queue takes the entry off, the
timeout, or (TASK_INTERRUPTIBLE) a signal, and returns the jiffies left; one that
came between the prepare and the schedule ends it at once. `finish_wait(wq, wait)`
sets the task running again and takes the entry off the queue.
"""

from __future__ import annotations

from collections.abc import Callable

from .current import current
from .errno import ERESTARTSYS
from .sched import SIGNALLED, TIMED_OUT, Wait

# include/linux/sched.h task states, for prepare_to_wait
TASK_RUNNING = 0x0000
TASK_INTERRUPTIBLE = 0x0001
TASK_UNINTERRUPTIBLE = 0x0002


class WaitEntry:
    """`struct wait_queue_entry` of one sleeping task: woken or not yet; `head` is the
    queue prepare_to_wait put it on (None for wait_event's own entries)."""

    __slots__ = ("woken", "interruptible", "head")

    def __init__(self, interruptible: bool):
        self.woken = False
        self.interruptible = interruptible
        self.head: WaitQueueHead | None = None


class WaitQueueHead:
    """`wait_queue_head_t`: the tasks sleeping on it."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.entries: list[WaitEntry] = []

    def wake(self, interruptible_only: bool) -> int:
        """Wakes every sleeper (kfuzz has no exclusive waits); how many were woken."""
        woken = 0
        for entry in list(self.entries):
            if interruptible_only and not entry.interruptible:
                continue
            entry.woken = True
            self.entries.remove(entry)
            woken += 1
        return woken

    def __repr__(self) -> str:
        return f"<wait queue {self.name}>" if self.name else "<wait queue>"


def init_waitqueue_head() -> WaitQueueHead:
    return WaitQueueHead()


DECLARE_WAIT_QUEUE_HEAD = init_waitqueue_head


def _wait(wq: WaitQueueHead, condition: Callable[[], object], interruptible: bool,
          timeout: int | None, call: str) -> int:
    """`___wait_event`: 0 (or the jiffies left, at least 1) once the condition holds;
    0 on a timeout with the condition still false; -ERESTARTSYS on a signal."""
    kernel = current()
    kernel.locking.might_sleep(call)
    if not isinstance(wq, WaitQueueHead):
        raise TypeError(f"{call}: not a wait queue head: {wq!r}")
    deadline = None if timeout is None else kernel.jiffies + max(0, int(timeout))
    while True:
        if condition():
            return 0 if deadline is None else max(1, deadline - kernel.jiffies)
        if deadline is not None and kernel.jiffies >= deadline:
            return 0  # ___wait_cond_timeout: a timeout of 0 does not sleep
        entry = WaitEntry(interruptible)
        wq.entries.append(entry)
        why = kernel.sched.block(Wait(f"{call} on {wq!r}", lambda e=entry: e.woken,  # type: ignore[misc]
                                      deadline, interruptible))
        if entry in wq.entries:
            wq.entries.remove(entry)
        if kernel.kcsan is not None:
            kernel.kcsan.acquire(wq)  # what the waker did happens before the woken wait returns
        if why == SIGNALLED:
            return -ERESTARTSYS
        if why == TIMED_OUT:  # ___wait_cond_timeout: the condition is looked at once more
            return 1 if condition() else 0


def wait_event(wq: WaitQueueHead, condition: Callable[[], object]) -> None:
    _wait(wq, condition, False, None, "wait_event")


def wait_event_interruptible(wq: WaitQueueHead, condition: Callable[[], object]) -> int:
    return _wait(wq, condition, True, None, "wait_event_interruptible")


def wait_event_timeout(wq: WaitQueueHead, condition: Callable[[], object], timeout: int) -> int:
    return _wait(wq, condition, False, timeout, "wait_event_timeout")


def wait_event_interruptible_timeout(wq: WaitQueueHead, condition: Callable[[], object],
                                     timeout: int) -> int:
    return _wait(wq, condition, True, timeout, "wait_event_interruptible_timeout")


def _wake(wq: WaitQueueHead, interruptible_only: bool) -> None:
    """`__wake_up`: a scheduling point; what the waker did happens before the woken wait."""
    kernel = current()
    kernel.sched.point()
    if kernel.kcsan is not None:
        kernel.kcsan.release(wq)
    wq.wake(interruptible_only)


def wake_up(wq: WaitQueueHead) -> None:
    _wake(wq, False)


wake_up_all = wake_up


def wake_up_interruptible(wq: WaitQueueHead) -> None:
    """Wakes only the interruptible sleepers (TASK_INTERRUPTIBLE)."""
    _wake(wq, True)


wake_up_interruptible_all = wake_up_interruptible


def waitqueue_active(wq: WaitQueueHead) -> bool:
    return bool(wq.entries)


# -- the open-coded wait (kernel/sched/wait.c) -------------------------------------------------
def DEFINE_WAIT() -> WaitEntry:  # noqa: N802 - Linux's name
    """`DEFINE_WAIT(wait)`: an entry for the current task, on no queue yet. As
    autoremove_wake_function does, the wake-up that wakes it takes it off its queue."""
    return WaitEntry(False)


def prepare_to_wait(wq: WaitQueueHead, wq_entry: WaitEntry, state: int) -> None:
    """Queues the entry (unless it is queued), then set_current_state(state): the
    next schedule_timeout sleeps until a wake-up of `wq` that wakes `state`
    (wake_up_interruptible wakes only TASK_INTERRUPTIBLE), the timeout, or, with
    TASK_INTERRUPTIBLE, a signal. A wake-up before that schedule ends it at once."""
    if not isinstance(wq, WaitQueueHead):
        raise TypeError(f"prepare_to_wait: not a wait queue head: {wq!r}")
    if not isinstance(wq_entry, WaitEntry):
        raise TypeError(f"prepare_to_wait: not a wait entry (wait = DEFINE_WAIT()): {wq_entry!r}")
    if state not in (TASK_INTERRUPTIBLE, TASK_UNINTERRUPTIBLE):
        raise TypeError(f"prepare_to_wait: the state is TASK_INTERRUPTIBLE or TASK_UNINTERRUPTIBLE, "
                        f"not {state!r}")
    kernel = current()
    wq_entry.interruptible = state == TASK_INTERRUPTIBLE
    wq_entry.woken = False
    wq_entry.head = wq
    if wq_entry not in wq.entries:
        wq.entries.append(wq_entry)
    kernel.task.waiting = wq_entry


def finish_wait(wq: WaitQueueHead, wq_entry: WaitEntry) -> None:
    """__set_current_state(TASK_RUNNING), and the entry off the queue if no wake-up took
    it off (a timeout, a signal)."""
    kernel = current()
    if kernel.task.waiting is wq_entry:
        kernel.task.waiting = None
    if wq_entry in wq.entries:
        wq.entries.remove(wq_entry)
    if kernel.kcsan is not None:
        kernel.kcsan.acquire(wq)


def sleep_prepared(entry: WaitEntry, timeout: int) -> int:
    """schedule_timeout(timeout) of a task whose prepare_to_wait set its state: the
    jiffies left when a wake-up (or a signal) ended the sleep, 0 on the timeout. The
    task is TASK_RUNNING again afterwards, as schedule() leaves it."""
    kernel = current()
    kernel.task.waiting = None
    timeout = max(0, int(timeout))
    if entry.woken or (entry.interruptible and kernel.sched.signal_pending()):
        return timeout  # a wake-up (or signal) since the prepare: schedule() does not sleep
    deadline = kernel.jiffies + timeout
    kernel.sched.block(Wait(f"schedule_timeout on {entry.head!r}", lambda: entry.woken, deadline,
                            entry.interruptible))
    if kernel.kcsan is not None and entry.woken and entry.head is not None:
        kernel.kcsan.acquire(entry.head)
    return max(0, deadline - kernel.jiffies)
