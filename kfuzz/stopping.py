"""Stopping on a signal: SIGTERM is handled as Ctrl-C is, as CI systems send it at
their time limit (to the whole process group, SIGKILL following)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt, so one path handles both."""


def stop_signal(exc: KeyboardInterrupt) -> int:
    return signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT


def exit_status(signum: int) -> int:
    """The shell's convention: 128 plus the signal (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signum


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the first one stops us; the rest wait
    raise Terminated()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    old = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
