"""Spinlocks and mutexes with lockdep's checks, and the sleeping-context check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypeVar

from . import titles
from .current import current
from .frames import Site, caller_site, format_stack
from .titles import Title

if TYPE_CHECKING:
    from .core import Kernel

L = TypeVar("L", bound="Lock")


@dataclass(eq=False)
class LockClass:
    """Locks made at the same line of code share a class, as in lockdep."""

    name: str
    after: dict[LockClass, Site | None] = field(default_factory=dict)


@dataclass(eq=False)
class Lock:
    cls: LockClass
    sleeping: bool
    held_at: Site | None = None
    irqsave: bool = False

    def __repr__(self) -> str:
        return f"<{'mutex' if self.sleeping else 'spinlock'} {self.cls.name}>"

    # whether holding it makes the context atomic: a spinlock's does, a mutex's does not
    atomic: ClassVar[bool] = True


class SpinLock(Lock):
    pass


class Mutex(Lock):
    atomic = False


class LockMap(Lock):
    """lockdep's `struct lockdep_map` of a timer, a work item or a workqueue: a lock
    class with no lock behind it. The callback runs under it (`call_timer_fn`,
    `process_one_work`) and whoever waits for the callback takes and drops it
    (`timer_delete_sync`, `__flush_work`, `__flush_workqueue`), so a lock held while
    waiting and taken by the callback closes a cycle. It never makes the context
    atomic and is never held across a sleep of its own."""

    atomic = False

    def __repr__(self) -> str:
        return f"<lockdep_map {self.cls.name}>"


class Locking:
    """The one task's held locks and the lock-order graph of the whole run."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.held: list[Lock] = []
        self.classes: dict[tuple[str, int], LockClass] = {}
        self.atomic_depth = 0
        # lockdep maps keyed by (what, file, line) of their init site, one map a class
        self.maps: dict[tuple[str, str, int], LockMap] = {}

    # -- classes --------------------------------------------------------------
    def new_lock(self, kind: type[L]) -> L:
        site = caller_site()
        key = (site.filename, site.lineno) if site else ("kernel", 0)
        cls = self.classes.get(key)
        if cls is None:
            name = f"{site.module}:{site.function}:{site.lineno}" if site else "kernel"
            cls = self.classes[key] = LockClass(name)
        return kind(cls, sleeping=kind is Mutex)

    def _reaches(self, start: LockClass, goal: LockClass) -> bool:
        seen, todo = set(), [start]
        while todo:
            cls = todo.pop()
            if cls is goal:
                return True
            if id(cls) not in seen:
                seen.add(id(cls))
                todo.extend(cls.after)
        return False

    # -- acquire / release ------------------------------------------------------
    def acquire(self, lock: Lock, check_order: bool = True, at: Site | None = None) -> None:
        """Takes `lock` at `at`, or at the innermost module function on the stack."""
        kernel = self.kernel
        if not isinstance(lock, Lock):
            raise TypeError(f"not a lock: {lock!r}")
        if lock.sleeping:
            self.might_sleep()
        if lock in self.held:
            kernel.report(titles.RECURSIVE_LOCKING,
                          f"possible recursive locking detected: {lock!r} is already held "
                          f"(taken at {lock.held_at.function if lock.held_at else '?'})")
        site = at or caller_site()
        if check_order:
            for prev in self.held:
                if prev.cls is lock.cls or lock.cls in prev.cls.after:
                    continue  # an order already in the graph was checked when it was added
                if self._reaches(lock.cls, prev.cls):
                    kernel.report(titles.CIRCULAR_LOCKING,
                                  f"possible circular locking dependency detected: taking "
                                  f"{lock!r} while holding {prev!r}, but {lock.cls.name} -> "
                                  f"{prev.cls.name} was seen before")
                prev.cls.after.setdefault(lock.cls, site)
        lock.held_at = site
        self.held.append(lock)
        if lock.atomic:
            self.atomic_depth += 1

    def release(self, lock: Lock) -> None:
        if lock not in self.held:
            self.kernel.report(titles.BAD_UNLOCK,
                               f"bad unlock balance detected: {lock!r} is not held")
            return
        self.held.remove(lock)
        lock.held_at = None
        if lock.atomic:
            self.atomic_depth -= 1

    # -- lockdep maps: waiting for a callback is taking its lock ---------------------------
    def new_map(self, what: str, name: str, site: Site | None) -> LockMap:
        """The map of an object made at `site`: one class per init site, as the static
        `lock_class_key` of `timer_setup` or `INIT_WORK` is; without a site (a workqueue,
        whose key is its own), a class of its own."""
        if site is None:
            return LockMap(LockClass(name), sleeping=False)
        key = (what, site.filename, site.lineno)
        lock_map = self.maps.get(key)
        if lock_map is None:
            lock_map = self.maps[key] = LockMap(LockClass(name), sleeping=False)
        return lock_map

    def touch_map(self, lock_map: LockMap) -> None:
        """`lock_map_acquire` then `lock_map_release`: the waiter's side."""
        self.acquire(lock_map)
        self.release(lock_map)

    def map_held(self, *maps: LockMap | None, by: Site | None = None) -> MapsHeld:
        """Runs a callback under its maps (`with`), released however it ends; `by` is
        the kernel function that holds them (`call_timer_fn`), as a report names it."""
        return MapsHeld(self, [m for m in maps if m is not None], by)

    def task(self) -> OtherTask:
        """Another task for the while (`with`): a kworker running a work item starts with
        no lock held, in process context with interrupts on, whoever flushed it."""
        return OtherTask(self)

    # -- context checks -------------------------------------------------------
    def might_sleep(self, call: str = "") -> None:
        """`__might_sleep` (kernel/sched/core.c): a call that may sleep, made in atomic
        context, is reported at that call; `call` names the kernel function that sleeps."""
        kernel = self.kernel
        if kernel.hardirq or kernel.softirq or self.atomic_depth or kernel.irqs_off:
            where = ("hard-IRQ" if kernel.hardirq else "softirq" if kernel.softirq
                     else "spinlock held" if self.atomic_depth else "IRQs disabled")
            atomic = int(bool(kernel.hardirq or kernel.softirq or self.atomic_depth))
            detail = (f"\n{call}() may sleep" if call else "") + (
                f"\nin_atomic(): {atomic}, irqs_disabled(): {int(bool(kernel.irqs_off or kernel.hardirq))}, "
                f"non_block: 0, pid: 1, name: kfuzz")
            kernel.report(titles.ATOMIC_SLEEP,
                          f"BUG: sleeping function called from invalid context ({where}){detail}")

    def check_released(self, title: Title, what: str) -> None:
        """No lock may stay held past an operation or a work item."""
        if not self.held:
            return
        lock = self.held[0]
        site = lock.held_at
        held = list(self.held)
        self.held.clear()
        self.atomic_depth = 0
        self.kernel.report(title,
                           f"{what}: {', '.join(map(repr, held))} still held",
                           site=site, stack=[site] if site else [],
                           module=site.module if site else None)

    def trace(self) -> list[str]:
        return format_stack([lk.held_at for lk in self.held if lk.held_at])


class MapsHeld:
    """The `with` of Locking.map_held (a plain class: it runs at every callback)."""

    __slots__ = ("locking", "maps", "by")

    def __init__(self, locking: Locking, maps: list[LockMap], by: Site | None):
        self.locking, self.maps, self.by = locking, maps, by

    def __enter__(self) -> None:
        for lock_map in self.maps:
            self.locking.acquire(lock_map, at=self.by)

    def __exit__(self, *exc: object) -> None:
        held = self.locking.held
        for lock_map in reversed(self.maps):
            if lock_map in held:
                self.locking.release(lock_map)


class OtherTask:
    """The `with` of Locking.task: the current task's context saved, a fresh one set."""

    __slots__ = ("locking", "saved")

    def __init__(self, locking: Locking):
        self.locking = locking
        self.saved: tuple[list[Lock], int, int, int, int] | None = None

    def __enter__(self) -> None:
        locking, kernel = self.locking, self.locking.kernel
        self.saved = (locking.held, locking.atomic_depth, kernel.hardirq, kernel.softirq,
                      kernel.irqs_off)
        locking.held, locking.atomic_depth = [], 0
        kernel.hardirq = kernel.softirq = kernel.irqs_off = 0

    def __exit__(self, *exc: object) -> None:
        locking, kernel = self.locking, self.locking.kernel
        assert self.saved is not None
        locking.held, locking.atomic_depth, kernel.hardirq, kernel.softirq, kernel.irqs_off = self.saved


def spin_lock_init() -> SpinLock:
    return current().locking.new_lock(SpinLock)


def mutex_init() -> Mutex:
    return current().locking.new_lock(Mutex)


DEFINE_SPINLOCK = spin_lock_init
DEFINE_MUTEX = mutex_init


def spin_lock(lock: SpinLock) -> None:
    current().locking.acquire(lock)


def spin_unlock(lock: SpinLock) -> None:
    current().locking.release(lock)


spin_lock_bh = spin_lock
spin_unlock_bh = spin_unlock


def spin_lock_irqsave(lock: SpinLock) -> int:
    kernel = current()
    kernel.locking.acquire(lock)
    kernel.irqs_off += 1
    lock.irqsave = True
    return 1


def spin_unlock_irqrestore(lock: SpinLock, flags: int) -> None:
    kernel = current()
    if lock.irqsave and lock in kernel.locking.held:
        kernel.irqs_off -= 1
        lock.irqsave = False
    kernel.locking.release(lock)


def spin_lock_irq(lock: SpinLock) -> None:
    spin_lock_irqsave(lock)


def spin_unlock_irq(lock: SpinLock) -> None:
    spin_unlock_irqrestore(lock, 1)


def mutex_lock(lock: Mutex) -> None:
    current().locking.acquire(lock)


def mutex_lock_interruptible(lock: Mutex) -> int:
    current().locking.acquire(lock)
    return 0


def mutex_unlock(lock: Mutex) -> None:
    current().locking.release(lock)


def mutex_trylock(lock: Mutex) -> bool:
    locking = current().locking
    if lock in locking.held:
        return False
    locking.acquire(lock, check_order=False)
    return True


def mutex_is_locked(lock: Mutex) -> bool:
    return lock in current().locking.held


def spin_is_locked(lock: SpinLock) -> bool:
    return lock in current().locking.held


def might_sleep() -> None:
    current().locking.might_sleep()


def msleep(ms: int) -> None:
    """Sleeps; time itself advances only when user space ticks the clock."""
    current().locking.might_sleep()


def usleep_range(min_us: int, max_us: int) -> None:
    current().locking.might_sleep()
