"""Writing CI output files: whole or not at all, and checked before the run starts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .baseline import CiError


def atomic_write(path: Path, text: str) -> None:
    """Replaces PATH with TEXT through a temporary file beside it: a reader (a CI step
    polling the stats) sees the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(fd, 0o666 & ~UMASK)  # mkstemp's 0600 would hide it from other users
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, before any thread starts
    os.umask(mask)
    return mask


UMASK = _umask()


def check_writable(path: Path, flag: str, append: bool = False) -> None:
    """Refuses an output file that cannot be written before the run spends its budget.
    An appended file (the step summary) is opened for appending, which leaves it as it was."""
    if path.is_dir():
        raise CiError(f"{flag} {path}: a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if append:
            with path.open("a", encoding="utf-8"):
                pass
        else:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            os.unlink(tmp)
    except OSError as err:
        raise CiError(f"{flag} {path}: cannot write there ({err.strerror or err}); give a file in a "
                      f"folder you can write to") from None
