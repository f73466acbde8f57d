"""Timers and jiffies. Time moves only when user space ticks the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .current import SOFTIRQ_OFFSET, current
from .frames import Site, caller_site
from .subsystem import Leftover, fname

if TYPE_CHECKING:
    from .core import Kernel
    from .module import Module

HZ = 100
MAX_FIRINGS_PER_TICK = 10_000


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

    def __repr__(self) -> str:
        return f"<timer {getattr(self.function, '__name__', '?')}>"


class Timers:
    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.pending: list[Timer] = []
        self._seq = 0

    def arm(self, timer: Timer, expires: int) -> int:
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
            task.softirq += SOFTIRQ_OFFSET
            try:
                kernel.call(timer.function, timer)
            finally:
                task.softirq -= SOFTIRQ_OFFSET
            kernel.workqueues.run_all()
        kernel.jiffies = target
        kernel.workqueues.run_all()
        return 0

    def owned_by(self, mod: Module) -> list[Timer]:
        return [t for t in self.pending if t.owner is mod]

    def leftovers(self, mod: Module) -> list[Leftover]:
        return [Leftover(t.what, t.name or fname(t.function), t.site) for t in self.owned_by(mod)]

    def owners(self) -> Iterable[Module | None]:
        return (t.owner for t in self.pending)


def timer_setup(callback: Callable[[Timer], object], flags: int = 0) -> Timer:
    kernel = current()
    return Timer(callback, owner=kernel.current_module(), site=caller_site())


def mod_timer(timer: Timer, expires: int) -> int:
    return current().timers.arm(timer, expires)


def add_timer(timer: Timer) -> None:
    current().timers.arm(timer, timer.expires)


def del_timer(timer: Timer) -> int:
    return current().timers.disarm(timer)


def del_timer_sync(timer: Timer) -> int:
    return current().timers.disarm(timer)


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
