"""The kernel's own sleeping locks around calls into drivers: what Linux serialises.

`device_lock` (drivers/base/dd.c, around probe, remove, bind and unbind) and
`misc_mtx` (drivers/char/misc.c, across a misc device's open) are mutexes that
module code never sees. kfuzz models them so that it never reports a race those
locks forbid: a task that finds one held blocks until its holder lets go. Like
`device_lock`, whose class is `lockdep_set_novalidate_class`, they are not
validated by lockdep.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .sched import Wait

if TYPE_CHECKING:
    from .core import Kernel
    from .current import Task


class KernelMutex:
    """A mutex of the kernel's own: an owner, and tasks that wait for it."""

    __slots__ = ("name", "owner", "depth", "_kcsan_vc")

    def __init__(self, name: str):
        self.name = name
        self.owner: Task | None = None
        self.depth = 0  # taken again by its owner: the kernel's nested calls (plug → modprobe → probe)

    @contextmanager
    def held(self, kernel: Kernel) -> Iterator[None]:
        task = kernel.task
        if self.owner is not None and self.owner is not task:
            owner = self.owner
            kernel.sched.block(Wait(f"{self.name}, held by {owner.comm}:{owner.pid}",
                                    lambda: self.owner is None))
        self.owner = task
        self.depth += 1
        if kernel.kcsan is not None:
            kernel.kcsan.acquire(self)
        try:
            yield
        finally:
            self.depth -= 1
            if not self.depth:
                if kernel.kcsan is not None:
                    kernel.kcsan.release(self)
                self.owner = None

    def __repr__(self) -> str:
        return f"<kernel mutex {self.name}>"
