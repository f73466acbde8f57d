"""Spinlocks and mutexes, IRQ and bottom-half flags, and the sleeping-context check.

The calls follow include/linux/spinlock.h and irqflags.h: `spin_lock_irqsave`
saves the IRQ state and `spin_unlock_irqrestore` puts it back, while
`spin_lock_irq`/`spin_unlock_irq` turn IRQs off and on without saving, so
`spin_unlock_irq` inside an irqsave section turns IRQs on. Turning IRQs (softirqs)
on marks every lock held as taken with them on, as lockdep_hardirqs_on does.
lockdep itself is in lockdep.py; might_sleep follows kernel/sched/core.c.

Waiting for a callback is taking its lock: a timer, a work item and a workqueue each
have a lockdep map (a `LockdepMap` with a key of its own, no lock behind it). The
callback runs under it (`call_timer_fn`, `process_one_work`) and whoever waits for
the callback takes and drops it (`timer_delete_sync`, `__flush_work`,
`__flush_workqueue`), so a lock held while waiting that the callback takes closes a
cycle, and a callback waiting for itself is recursion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import lockdep_report as report
from . import titles
from .current import SOFTIRQ_DISABLE_OFFSET, Task, current
from .errno import EINTR
from .frames import Site, caller_site
from .lockdep import ENABLED_HARDIRQ, ENABLED_SOFTIRQ, WAIT_SLEEP, WAIT_SPIN, Lockdep, LockdepMap
from .lockkey import ClassKey
from .misuse import expect
from .sched import WOKEN, Wait
from .timer import HZ, jiffies_to_msecs, msecs_to_jiffies
from .titles import Title

if TYPE_CHECKING:
    from .core import Kernel

X86_EFLAGS_IF = 0x200  # what irqsave's flags hold when IRQs were on


class Lock(LockdepMap):
    """A lock module code holds: its lockdep map, and the task holding it."""

    sleeping = False

    def __init__(self, key: ClassKey):
        super().__init__(key)
        self.owner: Task | None = None

    def __repr__(self) -> str:
        return f"<{'mutex' if self.sleeping else 'spinlock'} {self.name}>"


class SpinLock(Lock):
    wait = WAIT_SPIN


class Mutex(Lock):
    wait = WAIT_SLEEP
    sleeping = True


class Locking(Lockdep):
    """lockdep, and the IRQ flags and preempt count of each task that it watches."""

    def __init__(self, kernel: Kernel):
        super().__init__(kernel)
        self.irqs_on_in_hardirq: Site | None = None  # where a handler turned IRQs on

    # -- locks -----------------------------------------------------------------------
    def lock(self, lock: Lock, subclass: int = 0, trylock: bool = False,
             interruptible: bool = False) -> int:
        """Takes the lock: lockdep checks the acquisition first (kernel/locking/mutex.c
        `mutex_acquire_nest` before the wait), then a lock another task holds blocks
        the caller (a spinlock spins: the scheduler runs the holder). Interruptible, a
        wait that a signal ends is -EINTR; an uncontended lock is taken even with a
        signal pending, as the fast path tries the lock first."""
        if not isinstance(lock, Lock):
            raise TypeError(f"not a lock: {lock!r}")
        kernel = self.kernel
        kernel.sched.point()
        sleeping = lock.sleeping
        if sleeping and not trylock:  # mutex_trylock does not sleep
            self.might_sleep(point=False)
        task = kernel.task
        self._acquire(lock, task, subclass, trylock)
        owner = lock.owner
        if owner is not None and owner is not task:
            what = (f"{'mutex' if sleeping else 'spinlock'} {lock.name}, held by "
                    f"{owner.comm}:{owner.pid}")
            why = kernel.sched.block(Wait(what, lambda: lock.owner is None, interruptible=interruptible))
            if why != WOKEN:
                self.release(lock)
                return -EINTR
        lock.owner = task
        if not sleeping:
            task.preempt += 1
        if kernel.kcsan is not None:
            kernel.kcsan.acquire(lock)
        return 0

    def unlock(self, lock: Lock) -> None:
        if not isinstance(lock, Lock):
            raise TypeError(f"not a lock: {lock!r}")
        if self.release(lock) is None:
            return
        if self.kernel.kcsan is not None:
            self.kernel.kcsan.release(lock)
        lock.owner = None
        if not lock.sleeping:
            self.kernel.task.preempt -= 1
        self.kernel.sched.point()

    # -- IRQ and bottom-half flags ------------------------------------------------------
    def hardirqs_on(self) -> None:
        """local_irq_enable: the locks held are now held with IRQs on (and softirqs, if on)."""
        task = self.kernel.task
        if task.hardirqs_enabled:
            return
        if task.hardirq:  # a handler turned IRQs on: genirq warns when it returns
            self.irqs_on_in_hardirq = self.irqs_on_in_hardirq or caller_site()
        elif task.held:
            self.mark_held_locks(task, ENABLED_HARDIRQ)
            if task.softirqs_enabled:
                self.mark_held_locks(task, ENABLED_SOFTIRQ)
        task.hardirqs_enabled = True

    def bh_disable(self) -> None:
        self.kernel.task.softirq += SOFTIRQ_DISABLE_OFFSET

    def bh_enable(self) -> None:
        task = self.kernel.task
        task.softirq = max(0, task.softirq - SOFTIRQ_DISABLE_OFFSET)
        if task.softirqs_enabled and task.hardirqs_enabled and task.held:
            self.mark_held_locks(task, ENABLED_SOFTIRQ)

    # -- lockdep maps: waiting for a callback is taking its lock ---------------------------
    def new_map(self, name: str, own_key: bool = False) -> LockdepMap:
        """The map of a timer or work made by the module code on the stack: one class per
        init site and module load, as the static `lock_class_key` of `timer_setup` or
        `INIT_WORK` is; with `own_key` (a workqueue, `wq_init_lockdep`), a class of its own."""
        return LockdepMap(self.keys.fresh(name) if own_key else self.keys.at_caller(name=name))

    def free_map(self, lock_map: LockdepMap) -> None:
        """The map's class dies (`wq_unregister_lockdep`): the orders seen through it go."""
        self.free_key(lock_map.key)

    def touch_map(self, lock_map: LockdepMap) -> None:
        """`lock_map_acquire` then `lock_map_release`: the waiter's side."""
        self.acquire(lock_map)
        self.release(lock_map)

    def map_held(self, *maps: LockdepMap | None, by: Site | None = None) -> MapsHeld:
        """Runs a callback under its maps (`with`), released however it ends; `by` is
        the kernel function that holds them (`call_timer_fn`), as a report names it."""
        return MapsHeld(self, [m for m in maps if m is not None], by)

    # -- context checks -------------------------------------------------------------------
    def might_sleep(self, call: str = "", point: bool = True) -> None:
        """`__might_sleep` (kernel/sched/core.c): a call that may sleep, made in atomic
        context, is reported at that call; `call` names the kernel function that sleeps.
        Elsewhere it is a scheduling point (`point`)."""
        task = self.kernel.task
        if task.hardirq or task.softirq or task.preempt or not task.hardirqs_enabled:
            where = ("hard-IRQ" if task.hardirq else "softirq" if task.serving_softirq
                     else "spinlock held" if task.preempt
                     else "softirqs disabled" if task.softirq else "IRQs disabled")
            self.kernel.report(titles.ATOMIC_SLEEP, "\n".join([
                f"BUG: sleeping function called from invalid context ({where})",
                *([f"{call}() may sleep"] if call else []),
                f"in_atomic(): {int(task.in_atomic)}, irqs_disabled(): "
                f"{int(not task.hardirqs_enabled)}, non_block: 0, pid: {task.pid}, name: {task.comm}",
                *report.held_locks(task)]))
        if point:
            self.kernel.sched.point()

    def check_released(self, title: Title, header: list[str]) -> None:
        """No lock may stay held past an operation or a work item: the function that
        took the first one still held is to blame."""
        task = self.kernel.task
        if not task.held:
            return
        site = task.held[0].site
        message = report.held_when(task, header)
        self.drop_all(task)
        self.kernel.report(title, message, site=site, stack=[site] if site else [],
                           module=site.module if site else None)

    def drop_all(self, task: Task) -> None:
        for held in task.held:
            if isinstance(held.map, Lock):
                held.map.owner = None
        task.reset()

    def reset(self) -> None:
        """After an operation: every task back in process context, holding nothing."""
        kernel = self.kernel
        for task in (kernel.user, kernel.kworker):
            if task.held or task.preempt or task.softirq or task.hardirq or not task.hardirqs_enabled:
                self.drop_all(task)
        kernel.task = kernel.user
        self.irqs_on_in_hardirq = None


class MapsHeld:
    """The `with` of Locking.map_held (a plain class: it runs at every callback)."""

    __slots__ = ("locking", "maps", "by")

    def __init__(self, locking: Locking, maps: list[LockdepMap], by: Site | None):
        self.locking, self.maps, self.by = locking, maps, by

    def __enter__(self) -> None:
        for lock_map in self.maps:
            self.locking.acquire(lock_map, at=self.by)

    def __exit__(self, *exc: object) -> None:
        held = self.locking.kernel.task.held
        for lock_map in reversed(self.maps):
            if any(h.map is lock_map for h in held):
                self.locking.release(lock_map)


# -- what module code calls ---------------------------------------------------------------
# what a lock argument takes, as a misuse names it (misuse.py): mutex_lock of a spinlock fails
MUTEX = "a Mutex (DEFINE_MUTEX() or mutex_init())"
SPINLOCK = "a SpinLock (DEFINE_SPINLOCK() or spin_lock_init())"

def spin_lock_init() -> SpinLock:
    return SpinLock(current().locking.new_key())


def mutex_init() -> Mutex:
    return Mutex(current().locking.new_key())


DEFINE_SPINLOCK = spin_lock_init
DEFINE_MUTEX = mutex_init


def spin_lock(lock: SpinLock) -> None:
    expect("spin_lock", "the lock", lock, SpinLock, SPINLOCK)
    current().locking.lock(lock)


def spin_lock_nested(lock: SpinLock, subclass: int) -> None:
    expect("spin_lock_nested", "the lock", lock, SpinLock, SPINLOCK)
    current().locking.lock(lock, subclass)


def spin_unlock(lock: SpinLock) -> None:
    expect("spin_unlock", "the lock", lock, SpinLock, SPINLOCK)
    current().locking.unlock(lock)


def spin_lock_bh(lock: SpinLock) -> None:
    expect("spin_lock_bh", "the lock", lock, SpinLock, SPINLOCK)
    locking = current().locking
    locking.bh_disable()
    locking.lock(lock)


def spin_unlock_bh(lock: SpinLock) -> None:
    expect("spin_unlock_bh", "the lock", lock, SpinLock, SPINLOCK)
    locking = current().locking
    locking.unlock(lock)
    locking.bh_enable()


def local_irq_save() -> int:
    task = current().task
    flags = X86_EFLAGS_IF if task.hardirqs_enabled else 0
    task.hardirqs_enabled = False
    return flags


def local_irq_restore(flags: int) -> None:
    if isinstance(flags, int) and flags & X86_EFLAGS_IF:
        current().locking.hardirqs_on()
    else:
        current().task.hardirqs_enabled = False


def local_irq_disable() -> None:
    current().task.hardirqs_enabled = False


def local_irq_enable() -> None:
    current().locking.hardirqs_on()


def irqs_disabled() -> bool:
    return not current().task.hardirqs_enabled


def local_bh_disable() -> None:
    current().locking.bh_disable()


def local_bh_enable() -> None:
    current().locking.bh_enable()


def spin_lock_irqsave(lock: SpinLock) -> int:
    expect("spin_lock_irqsave", "the lock", lock, SpinLock, SPINLOCK)
    kernel = current()
    task = kernel.task
    flags = X86_EFLAGS_IF if task.hardirqs_enabled else 0
    task.hardirqs_enabled = False
    kernel.locking.lock(lock)
    return flags


def spin_lock_irqsave_nested(lock: SpinLock, subclass: int) -> int:
    expect("spin_lock_irqsave_nested", "the lock", lock, SpinLock, SPINLOCK)
    flags = local_irq_save()
    current().locking.lock(lock, subclass)
    return flags


def spin_unlock_irqrestore(lock: SpinLock, flags: int) -> None:
    expect("spin_unlock_irqrestore", "the lock", lock, SpinLock, SPINLOCK)
    locking = current().locking
    locking.unlock(lock)
    if isinstance(flags, int) and flags & X86_EFLAGS_IF:
        locking.hardirqs_on()
    else:
        locking.kernel.task.hardirqs_enabled = False


def spin_lock_irq(lock: SpinLock) -> None:
    expect("spin_lock_irq", "the lock", lock, SpinLock, SPINLOCK)
    local_irq_disable()
    current().locking.lock(lock)


def spin_unlock_irq(lock: SpinLock) -> None:
    expect("spin_unlock_irq", "the lock", lock, SpinLock, SPINLOCK)
    current().locking.unlock(lock)
    local_irq_enable()


def mutex_lock(lock: Mutex) -> None:
    expect("mutex_lock", "the lock", lock, Mutex, MUTEX)
    current().locking.lock(lock)


def mutex_lock_nested(lock: Mutex, subclass: int) -> None:
    expect("mutex_lock_nested", "the lock", lock, Mutex, MUTEX)
    current().locking.lock(lock, subclass)


def mutex_lock_interruptible(lock: Mutex) -> int:
    """0, or -EINTR when it had to wait and a signal came (kernel/locking/mutex.c)."""
    expect("mutex_lock_interruptible", "the lock", lock, Mutex, MUTEX)
    return current().locking.lock(lock, interruptible=True)


def mutex_lock_killable(lock: Mutex) -> int:
    """As mutex_lock_interruptible; kfuzz's signals are all fatal ones."""
    expect("mutex_lock_killable", "the lock", lock, Mutex, MUTEX)
    return current().locking.lock(lock, interruptible=True)


def mutex_unlock(lock: Mutex) -> None:
    expect("mutex_unlock", "the lock", lock, Mutex, MUTEX)
    current().locking.unlock(lock)


def mutex_trylock(lock: Mutex) -> bool:
    expect("mutex_trylock", "the lock", lock, Mutex, MUTEX)
    if lock.owner is not None:
        return False
    current().locking.lock(lock, trylock=True)
    return True


def spin_trylock(lock: SpinLock) -> bool:
    expect("spin_trylock", "the lock", lock, SpinLock, SPINLOCK)
    if lock.owner is not None:
        return False
    current().locking.lock(lock, trylock=True)
    return True


def mutex_is_locked(lock: Mutex) -> bool:
    expect("mutex_is_locked", "the lock", lock, Mutex, MUTEX)
    return lock.owner is not None


def spin_is_locked(lock: SpinLock) -> bool:
    expect("spin_is_locked", "the lock", lock, SpinLock, SPINLOCK)
    return lock.owner is not None


def might_sleep() -> None:
    current().locking.might_sleep()


def msleep(ms: int) -> None:
    """Sleeps at least `ms` milliseconds of the kernel's clock: msecs_to_jiffies(ms) + 1
    jiffies, as kernel/time/sleep_timeout.c's msleep. While every task sleeps the
    clock jumps ahead, and timers fall due (sched.py)."""
    kernel = current()
    kernel.locking.might_sleep()
    kernel.sched.block(Wait("msleep", deadline=kernel.jiffies + msecs_to_jiffies(ms) + 1))


def msleep_interruptible(ms: int) -> int:
    """As msleep, ended early by a signal: the milliseconds left (0 when it slept them all)."""
    kernel = current()
    kernel.locking.might_sleep()
    deadline = kernel.jiffies + msecs_to_jiffies(ms) + 1
    kernel.sched.block(Wait("msleep_interruptible", deadline=deadline, interruptible=True))
    return jiffies_to_msecs(max(0, deadline - kernel.jiffies))


def usleep_range(min_us: int, max_us: int) -> None:
    """Sleeps at least `min_us` microseconds: at least one jiffy of the kernel's clock."""
    kernel = current()
    kernel.locking.might_sleep()
    ticks = max(1, (int(min_us) * HZ + 999_999) // 1_000_000)
    kernel.sched.block(Wait("usleep_range", deadline=kernel.jiffies + ticks))


def ssleep(seconds: int) -> None:
    msleep(int(seconds) * 1000)


def schedule_timeout(timeout: int) -> int:
    """After prepare_to_wait (waitqueue.py), sleeps until a wake-up of its queue, the
    timeout or (TASK_INTERRUPTIBLE) a signal: the jiffies left. Else it sleeps
    `timeout` jiffies, uninterruptibly (kfuzz has no set_current_state): 0."""
    entry = current().task.waiting
    if entry is not None:
        from .waitqueue import sleep_prepared
        current().locking.might_sleep()
        return sleep_prepared(entry, timeout)
    return _schedule_timeout(timeout, False)


def schedule_timeout_uninterruptible(timeout: int) -> int:
    return _schedule_timeout(timeout, False)


def schedule_timeout_interruptible(timeout: int) -> int:
    """Sleeps `timeout` jiffies or until a signal: the jiffies left."""
    return _schedule_timeout(timeout, True)


def _schedule_timeout(timeout: int, interruptible: bool) -> int:
    kernel = current()
    kernel.locking.might_sleep()
    deadline = kernel.jiffies + max(0, int(timeout))
    kernel.sched.block(Wait("schedule_timeout", deadline=deadline, interruptible=interruptible))
    return max(0, deadline - kernel.jiffies)


def signal_pending() -> bool:
    """Whether a signal is pending for the current task (`signal_pending(current)`)."""
    return current().sched.signal_pending()
