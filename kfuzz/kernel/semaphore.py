"""Counting semaphores (kernel/locking/semaphore.c).

`up` hands the count straight to the first waiter when there is one (`__up`:
`waiter->up = true`), so a task calling `down` later cannot take it first.
Semaphores are not lockdep-tracked, as in Linux.
"""

from __future__ import annotations

from .current import current
from .errno import EINTR, ETIME
from .sched import SIGNALLED, WOKEN, Wait


class SemWaiter:
    __slots__ = ("up",)

    def __init__(self) -> None:
        self.up = False


class Semaphore:
    """`struct semaphore`: a count and its waiters, first come first served."""

    def __init__(self, count: int = 1):
        self.count = int(count)
        self.waiters: list[SemWaiter] = []

    def __repr__(self) -> str:
        return f"<semaphore count={self.count}>"


def sema_init(val: int) -> Semaphore:
    return Semaphore(val)


def DEFINE_SEMAPHORE(val: int = 1) -> Semaphore:  # noqa: N802 - Linux's name
    return Semaphore(val)


def _down(sem: Semaphore, interruptible: bool, timeout: int | None, call: str) -> int:
    kernel = current()
    kernel.locking.might_sleep(call)
    if not isinstance(sem, Semaphore):
        raise TypeError(f"{call}: not a semaphore: {sem!r}")
    if sem.count > 0:
        sem.count -= 1
        if kernel.kcsan is not None:
            kernel.kcsan.acquire(sem)
        return 0
    deadline = None if timeout is None else kernel.jiffies + max(0, int(timeout))
    if deadline is not None and deadline <= kernel.jiffies:
        return -ETIME  # __down_common: a timeout of 0 does not sleep
    waiter = SemWaiter()
    sem.waiters.append(waiter)
    why = kernel.sched.block(Wait(f"{call} on {sem!r}", lambda: waiter.up, deadline, interruptible))
    if why == WOKEN:
        if kernel.kcsan is not None:
            kernel.kcsan.acquire(sem)
        return 0
    sem.waiters.remove(waiter)
    return -EINTR if why == SIGNALLED else -ETIME


def down(sem: Semaphore) -> None:
    _down(sem, False, None, "down")


def down_interruptible(sem: Semaphore) -> int:
    return _down(sem, True, None, "down_interruptible")


def down_killable(sem: Semaphore) -> int:
    return _down(sem, True, None, "down_killable")


def down_timeout(sem: Semaphore, timeout: int) -> int:
    return _down(sem, False, timeout, "down_timeout")


def down_trylock(sem: Semaphore) -> int:
    """0 when it took the semaphore, 1 when it could not (note: the opposite of
    mutex_trylock)."""
    if sem.count > 0:
        sem.count -= 1
        kernel = current()
        if kernel.kcsan is not None:
            kernel.kcsan.acquire(sem)
        return 0
    return 1


def up(sem: Semaphore) -> None:
    kernel = current()
    kernel.sched.point()
    if kernel.kcsan is not None:
        kernel.kcsan.release(sem)
    if sem.waiters:
        sem.waiters.pop(0).up = True
    else:
        sem.count += 1
