"""Reading the text files a user hands kfuzz (module files, repros): a regular file
of at most MAX_SIZE bytes, in UTF-8. What cannot be read is an Unreadable with the
reason and the fix, which the reader turns into its own error naming the file.

A FIFO, a device or a folder is refused before it is read, so reading never
blocks and never runs without end; a file is read up to its cap and no further.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

MAX_SIZE = 1 << 20  # 1 MiB: far above any module or repro, far below a memory or time problem
LINE_BREAK = re.compile(r"\r\n|\r|\n")  # line breaks as Python, grep -n and editors count them
_UNPRINTABLE = re.compile(r"[^ \S]|[^\x20-\x7e\s]")


class Unreadable(Exception):
    """Why a file cannot be used as text, the line where that is (0 for none), and the fix."""

    def __init__(self, message: str, fix: str, lineno: int = 0):
        super().__init__(message)
        self.message, self.fix, self.lineno = message, fix, lineno


def line_count(text: str) -> int:
    """The lines of TEXT as an editor shows them: a last line break ends a line, it starts none."""
    breaks = len(LINE_BREAK.findall(text))
    return max(1, breaks + (0 if LINE_BREAK.search(text[-1:]) else 1))


def shorten(text: str, most: int = 300) -> str:
    """TEXT, its middle cut out when long (a quoted token may be a megabyte); the end,
    where a message says what was expected, is kept."""
    return text if len(text) <= most else f"{text[:most // 3]}...{text[-(most - most // 3 - 3):]}"


def one_line(text: str) -> str:
    """TEXT with line breaks, control and invisible characters escaped, so an error
    that quotes a file name or a line of input stays one readable line."""
    def escape(m: re.Match[str]) -> str:
        c = m.group()
        return c if c.isprintable() else ascii(c)[1:-1]
    return _UNPRINTABLE.sub(escape, text)


def _failed(err: OSError | ValueError, what: str) -> Unreadable:
    """Why opening or reading failed (ValueError: a NUL character in the name)."""
    if not isinstance(err, OSError):
        return Unreadable("the file name holds a NUL character", "check the path")
    if err.errno == errno.ENOENT:
        return Unreadable(f"no such {what}", "check the path (a link must point at an existing file)")
    if err.errno in (errno.EACCES, errno.EPERM):
        return Unreadable(f"{what} is not readable (permission denied)", "make it readable: chmod a+r FILE")
    if err.errno == errno.ELOOP:
        return Unreadable(f"{what} is a symbolic link loop", "point the link at a real file")
    if err.errno == errno.ENAMETOOLONG:
        return Unreadable("file name too long", "give a shorter path")
    if err.errno == errno.ENOTDIR:
        return Unreadable("a part of the path is not a folder", "check the path")
    return Unreadable(f"cannot read {what}: {err.strerror or err}", "check the file and the disk")


def check_file(path: Path, what: str) -> os.stat_result:
    """The status of PATH, which must be a regular file; Unreadable otherwise."""
    try:
        st = os.stat(path)
    except (OSError, ValueError) as err:
        raise _failed(err, what) from None
    _check_kind(st, what)
    return st


def _check_kind(st: os.stat_result, what: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device")
        raise Unreadable(f"{kind}, not a {what}", f"give the path of a {what}")
    if st.st_size > MAX_SIZE:
        raise _too_big(st.st_size, what)


def _too_big(size: int, what: str) -> Unreadable:
    return Unreadable(f"{what} is {size:,} bytes, over the {MAX_SIZE >> 20} MiB limit",
                      f"a {what} holds at most {MAX_SIZE:,} bytes: split it or cut it down")


def read_bytes(path: Path, what: str) -> bytes:
    """The content of a regular file of at most MAX_SIZE bytes. Opened without
    blocking (a FIFO would wait for a writer), checked, then read to its cap."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError) as err:
        raise _failed(err, what) from None
    try:
        _check_kind(os.fstat(fd), what)
        chunks, size = [], 0
        while size <= MAX_SIZE:
            chunk = os.read(fd, MAX_SIZE + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise _failed(err, what) from None
    finally:
        os.close(fd)
    if size > MAX_SIZE:  # it grew while read
        raise _too_big(size, what)
    return b"".join(chunks)


def decode(data: bytes, what: str) -> str:
    """UTF-8 text (a byte order mark is dropped, as Python drops it); Unreadable
    naming the line and column of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:  # err.object: the data after any byte order mark
        lines = LINE_BREAK.split(err.object[:err.start].decode("utf-8", "replace"))
        raise Unreadable(f"{what} is not UTF-8 text (byte 0x{err.object[err.start]:02x} at column "
                         f"{len(lines[-1]) + 1})", "save the file as UTF-8", len(lines)) from None


def read_text(path: Path, what: str) -> str:
    return decode(read_bytes(path, what), what)
