"""Timers and jiffies. Time moves only when user space ticks the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import titles
from .current import SOFTIRQ_OFFSET, Task, current
from .frames import Site, caller_site
from .lockdep import LockdepMap
from .misuse import expect, misuse
from .sched import Wait
from .subsystem import Leftover, fname

if TYPE_CHECKING:
    from .core import Kernel
    from .module import Module

HZ = 100
MAX_FIRINGS_PER_TICK = 10_000
TIMER_IRQSAFE = 0x00200000  # include/linux/timer.h: runs with IRQs off; may be waited for in hardirq


@dataclass(eq=False)
class Timer:
    function: Callable[[Timer], object]
    expires: int = 0
    pending: bool = False
    owner: Module | None = None
    site: Site | None = None
    seq: int = 0
    data: Any = None  # the driver's (a delayed work's own timer: the work), for its callback
    # how a dangling-registration title names it: the timer of a delayed work is "delayed work FN"
    what: str = "timer"
    name: str = ""
    flags: int = 0
    map: LockdepMap | None = None  # its lockdep map: the callback runs under it, del_timer_sync takes it
    running: Task | None = None  # the task its callback runs on now (base->running_timer)

    def __repr__(self) -> str:
        return f"<timer {getattr(self.function, '__name__', '?')}>"


class Timers:
    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.pending: list[Timer] = []
        self._seq = 0

    def arm(self, timer: Timer, expires: int) -> int:
        if self.kernel.kcsan is not None:
            self.kernel.kcsan.release(timer)  # arming happens before the callback runs
        was = 1 if timer.pending else 0
        if timer.pending:
            self.pending.remove(timer)
        self._seq += 1
        timer.expires, timer.pending, timer.seq = int(expires), True, self._seq
        self.pending.append(timer)
        return was

    def disarm(self, timer: Timer) -> int:
        if not timer.pending:
            return 0
        timer.pending = False
        self.pending.remove(timer)
        return 1

    def tick(self, n: int) -> int:
        """Advances n jiffies: fire due timers in order, run queued work."""
        kernel = self.kernel
        target = kernel.jiffies + max(0, n)
        fired = 0
        kernel.workqueues.run_all()
        while True:
            due = [t for t in self.pending if t.expires <= target]
            if not due:
                break
            fired += 1
            if fired > MAX_FIRINGS_PER_TICK:
                kernel.log.write("timer: too many expiries in one tick, clock stopped")
                break
            timer = min(due, key=lambda t: (t.expires, t.seq))
            kernel.jiffies = max(kernel.jiffies, timer.expires)
            self.disarm(timer)
            task = kernel.task  # the timer softirq runs on the task it interrupts
            irqsafe = bool(timer.flags & TIMER_IRQSAFE)  # runs with IRQs off
            irqs_were_on = task.hardirqs_enabled
            task.softirq += SOFTIRQ_OFFSET
            if irqsafe:
                task.hardirqs_enabled = False
            timer.running = task
            if kernel.kcsan is not None:
                kernel.kcsan.acquire(timer)
            try:
                with kernel.locking.map_held(timer.map, by=CALL_TIMER_FN):
                    kernel.call(timer.function, timer)
            finally:
                timer.running = None
                if kernel.kcsan is not None:  # the callback happens before del_timer_sync returns
                    kernel.kcsan.release(timer)
                task.softirq -= SOFTIRQ_OFFSET
                if irqsafe:
                    task.hardirqs_enabled = irqs_were_on
            kernel.workqueues.run_all()
        kernel.jiffies = max(kernel.jiffies, target)  # work that slept may have moved it on
        kernel.workqueues.run_all()
        return 0

    def owned_by(self, mod: Module) -> list[Timer]:
        return [t for t in self.pending if t.owner is mod]

    def leftovers(self, mod: Module) -> list[Leftover]:
        return [Leftover(t.what, t.name or fname(t.function), t.site) for t in self.owned_by(mod)]

    def owners(self) -> Iterable[Module | None]:
        return (t.owner for t in self.pending)


# who holds a timer's map while its callback runs, as a lockdep report names it
CALL_TIMER_FN = Site("kernel", "call_timer_fn", "<kernel>", 0)


def timer_setup(callback: Callable[[Timer], object], flags: int = 0) -> Timer:
    """A timer; its lockdep class is its init site, as `timer_setup`'s static key is."""
    if not callable(callback):  # C's timer_setup(&timer, callback, flags) written as is
        raise misuse("timer_setup", "callback", callback, "a function: timer = timer_setup(callback, flags)")
    expect("timer_setup", "flags", flags, int, "an int (0 or TIMER_IRQSAFE)")
    kernel = current()
    lock_map = kernel.locking.new_map(f"(timer){fname(callback)}")
    return Timer(callback, owner=kernel.current_module(), site=caller_site(), flags=int(flags),
                 map=lock_map)


def mod_timer(timer: Timer, expires: int) -> int:
    expect("mod_timer", "the timer", timer, Timer, "a Timer (timer_setup())")
    expect("mod_timer", "expires", expires, int, "a jiffies value (an int)")
    return current().timers.arm(timer, expires)


def add_timer(timer: Timer) -> None:
    """Arms at `timer.expires`. A timer already pending stays as it is, with a WARNING:
    `WARN_ON_ONCE(timer_pending(timer))` in add_timer (kernel/time/timer.c)."""
    expect("add_timer", "the timer", timer, Timer, "a Timer (timer_setup())")
    kernel = current()
    if timer.pending:
        kernel.warn(titles.ADD_TIMER_PENDING,
                    f"WARN_ON_ONCE(timer_pending(timer)) in add_timer: {timer!r} is pending "
                    f"(expires at jiffy {timer.expires}); mod_timer() re-arms a pending timer")
        return
    kernel.timers.arm(timer, timer.expires)


def del_timer(timer: Timer) -> int:
    expect("del_timer", "the timer", timer, Timer, "a Timer (timer_setup())")
    return current().timers.disarm(timer)


def del_timer_sync(timer: Timer) -> int:
    """`timer_delete_sync` (kernel/time/timer.c): takes and drops the timer's lockdep map
    with IRQs off, so a lock held here that the callback takes closes a cycle (and a call
    from the callback itself is recursion); WARN_ON(in_hardirq()) unless TIMER_IRQSAFE.
    It spins until the callback is done: it does not sleep."""
    expect("del_timer_sync", "the timer", timer, Timer, "a Timer (timer_setup())")
    kernel = current()
    task = kernel.task
    if timer.map is not None:  # local_irq_save: no enabled-usage is marked on the map
        irqs_were_on, task.hardirqs_enabled = task.hardirqs_enabled, False
        try:
            kernel.locking.touch_map(timer.map)
        finally:
            task.hardirqs_enabled = irqs_were_on
    if task.hardirq and not timer.flags & TIMER_IRQSAFE:
        kernel.warn(titles.DEL_TIMER_SYNC_IN_HARDIRQ,
                    f"WARN_ON(in_hardirq() && !(timer->flags & TIMER_IRQSAFE)) in "
                    f"__timer_delete_sync: {timer!r} waited for in hard-IRQ context")
    # try_to_del_timer_sync leaves a timer whose callback runs on another CPU alone, and
    # the loop spins until it can detach it: a callback that re-arms its timer (a
    # heartbeat) is disarmed after that callback, not before it
    running = timer.running
    while running is not None and running is not task:
        kernel.sched.block(Wait(f"del_timer_sync: {timer!r} runs on {running.comm}:{running.pid}",
                                lambda: timer.running is None))
        running = timer.running
    was = kernel.timers.disarm(timer)
    if kernel.kcsan is not None:
        kernel.kcsan.acquire(timer)
    return was


timer_delete = del_timer
timer_delete_sync = del_timer_sync


def timer_pending(timer: Timer) -> bool:
    return timer.pending


def jiffies() -> int:
    return current().jiffies


def msecs_to_jiffies(ms: int) -> int:
    return (int(ms) * HZ + 999) // 1000


def jiffies_to_msecs(j: int) -> int:
    return int(j) * 1000 // HZ
