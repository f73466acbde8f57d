"""The store's lock: runs that share a reports folder (or an example database)
take turns at writing it, so no file is torn and no count is lost.

An advisory `flock` on a `.lock` file in the folder: the kernel drops it when
its holder dies, however it dies, so a killed run never leaves it stuck.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".lock"


@contextmanager
def store_lock(folder: Path) -> Iterator[None]:
    """Holds the folder's lock, exclusively, for the block."""
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock
