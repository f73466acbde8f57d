"""The kernel that module code is running in now.

Module code calls plain functions (`kmalloc`, `request_irq`); they act on the
kernel that is running an operation. One kernel runs at a time in a process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import Kernel

_current: list[Kernel] = []


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
