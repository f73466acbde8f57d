"""Asynchronous notification: the files that asked for SIGIO, and the signal (fs/fcntl.c).

A driver keeps a list head, here a one-item list (`*fapp` is `fapp[0]`), that
`fasync_helper` adds a file to or removes it from, from the driver's `fasync`
callback; `kill_fasync` signals every file on it. The kernel calls `fasync(-1,
file, 0)` when a file with FASYNC set is released, so a driver whose fasync does
not remove the file leaves an entry for a freed file, and its next kill_fasync
uses it: KASAN's use-after-free, as in Linux.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import titles
from .current import current
from .fs import File

SIGIO = 29
POLL_IN = 1
POLL_OUT = 2
POLL_MSG = 3
POLL_ERR = 4
POLL_PRI = 5
POLL_HUP = 6


@dataclass(eq=False)
class FasyncStruct:
    """`struct fasync_struct`: one file on a driver's list."""

    fa_fd: int
    fa_file: File
    fa_next: FasyncStruct | None = None


def _check_head(fapp: Any, call: str) -> None:
    if not isinstance(fapp, list) or len(fapp) != 1:
        raise TypeError(f"{call}: the list head is a one-item list (`*fapp` is `fapp[0]`), "
                        f"not {fapp!r}: keep `st.async_queue = [None]` and pass it")


def fasync_helper(fd: int, filp: File, on: int, fapp: list[FasyncStruct | None]) -> int:
    """Adds (on) or removes (off) the file: 1 when the list changed, 0 when not."""
    _check_head(fapp, "fasync_helper")
    prev: FasyncStruct | None = None
    fa = fapp[0]
    while fa is not None and fa.fa_file is not filp:
        prev, fa = fa, fa.fa_next
    if not on:
        if fa is None:
            return 0
        if prev is None:
            fapp[0] = fa.fa_next
        else:
            prev.fa_next = fa.fa_next
        return 1
    if fa is not None:  # fasync_insert_entry: already on it, the descriptor updated
        fa.fa_fd = fd
        return 0
    fapp[0] = FasyncStruct(fd, filp, fapp[0])
    return 1


def kill_fasync(fapp: list[FasyncStruct | None], sig: int, band: int) -> None:
    """Signals every file on the list (the process that owns it, were there one)."""
    _check_head(fapp, "kill_fasync")
    kernel = current()
    fa = fapp[0]
    while fa is not None:
        if fa.fa_file.released:
            kernel.report(titles.USE_AFTER_FREE,
                          f"KASAN: use-after-free in kill_fasync: fasync entry of fd {fa.fa_fd} "
                          f"({fa.fa_file.node.path}), whose file was released: its driver's fasync "
                          "did not remove it (fasync_helper(-1, file, 0, ...))")
        fa.fa_file.sigio += 1
        fa = fa.fa_next
