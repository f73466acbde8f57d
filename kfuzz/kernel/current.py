"""The kernel that module code is running in now, and the task it runs as.

Module code calls plain functions (`kmalloc`, `request_irq`); they act on the
kernel that is running an operation. One kernel runs at a time in a process.

Within a kernel, `kernel.task` is Linux's `current`: the task whose context the
code runs in. It keeps what `current` and the preempt count keep in Linux
(include/linux/preempt.h, include/linux/irqflags.h): hard-IRQ and softirq
nesting, whether hard IRQs are on, the locks held. An interrupt or a softirq
runs on the task it interrupts, as in Linux; a work item runs on a kworker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import Kernel
    from .lockdep import HeldLock
    from .waitqueue import WaitEntry

_current: list[Kernel] = []

# softirq_count() in SOFTIRQ_OFFSET units, as Linux counts it: serving a softirq
# adds SOFTIRQ_OFFSET, local_bh_disable() adds SOFTIRQ_DISABLE_OFFSET (twice that)
SOFTIRQ_OFFSET = 1
SOFTIRQ_DISABLE_OFFSET = 2


class Task:
    """One task's execution context: what lockdep and might_sleep look at."""

    __slots__ = ("comm", "pid", "held", "hardirq", "softirq", "hardirqs_enabled", "preempt", "waiting")

    def __init__(self, comm: str, pid: int):
        self.comm = comm
        self.pid = pid
        self.held: list[HeldLock] = []  # current->held_locks, in the order taken
        self.hardirq = 0                # hardirq_count(): hard-IRQ handlers running
        self.softirq = 0                # softirq_count(), in SOFTIRQ_OFFSET units
        self.hardirqs_enabled = True
        self.preempt = 0                # preempt_disable() depth: spinlocks held
        self.waiting: WaitEntry | None = None  # prepare_to_wait's entry: the state is not TASK_RUNNING

    def reset(self) -> None:
        """Back to plain process context with nothing held (after an operation)."""
        self.held.clear()
        self.hardirq = self.softirq = self.preempt = 0
        self.hardirqs_enabled = True
        self.waiting = None

    @property
    def softirqs_enabled(self) -> bool:
        return self.softirq == 0

    @property
    def serving_softirq(self) -> bool:
        return bool(self.softirq & SOFTIRQ_OFFSET)

    @property
    def irq_context(self) -> int:
        """lockdep's task_irq_context(): 2 in hard-IRQ, 1 serving a softirq, 0 else."""
        return 2 if self.hardirq else (self.softirq & SOFTIRQ_OFFSET)

    @property
    def in_atomic(self) -> bool:
        return bool(self.hardirq or self.softirq or self.preempt)

    def state(self) -> str:
        """What lockdep prints after the task: [HC0[0]:SC0[0]:HE1:SE1]."""
        hc, sc = int(self.hardirq > 0), int(self.serving_softirq)
        return (f"[HC{hc}[{self.hardirq}]:SC{sc}[{self.softirq}]:"
                f"HE{int(self.hardirqs_enabled)}:SE{int(self.softirqs_enabled)}]")

    def __str__(self) -> str:
        return f"{self.comm}/{self.pid}"

    def __repr__(self) -> str:
        return f"<task {self}>"


def current() -> Kernel:
    if not _current:
        raise RuntimeError("kfuzz.kapi called outside a running kernel")
    return _current[-1]


def push(kernel: Kernel) -> None:
    _current.append(kernel)


def pop() -> None:
    _current.pop()


def running_kernel() -> Kernel | None:
    """The kernel running an operation now, if any (for signal handlers)."""
    return _current[-1] if _current else None
