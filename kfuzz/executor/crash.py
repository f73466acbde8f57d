"""What a dead or stuck worker leaves behind: a breadcrumb, a faulthandler dump."""

from __future__ import annotations

import mmap
import re
import signal

from ..kernel import Finding, titles
from ..kernel.findings import FrameRef
from ..kernel.frames import ANONYMOUS

CRUMB_SIZE = 512
FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<fn>\S+)')


class Breadcrumb:
    """Shared memory the worker writes on each call into module code.

    When the worker dies without a word (`os._exit`, a signal, the OOM killer),
    the parent reads the last module function it entered.
    """

    def __init__(self) -> None:
        self.mem = mmap.mmap(-1, CRUMB_SIZE)
        self.stack: list[bytes] = []
        self.clear()

    def clear(self) -> None:
        self.stack.clear()
        self.mem[0:2] = b"\0\0"

    def _write(self, data: bytes) -> None:
        data = data[:CRUMB_SIZE - 1] + b"\0"
        self.mem[0:len(data)] = data

    def enter(self, module: str, function: str) -> None:
        data = f"{module} {function}".encode()
        self.stack.append(data)
        self._write(data)

    def leave(self) -> None:
        if self.stack:
            self.stack.pop()
        self._write(self.stack[-1] if self.stack else b"")

    def swap(self, stack: list[bytes]) -> list[bytes]:
        """Another task runs: its own stack of module functions is the one written."""
        old, self.stack = self.stack, stack
        self._write(stack[-1] if stack else b"")
        return old

    def read(self) -> tuple[str, str] | None:
        raw = self.mem[:CRUMB_SIZE].split(b"\0", 1)[0].decode(errors="replace")
        module, _, function = raw.partition(" ")
        return (module, function) if function else None


def innermost_module_frame(dump: str, module_files: dict[str, str]) -> tuple[str, FrameRef] | None:
    """(module, frame) of the innermost module function in a faulthandler dump,
    which lists the most recent call first."""
    for m in FRAME.finditer(dump):
        module = module_files.get(m.group("file"))
        if module and m.group("fn") not in ANONYMOUS:
            return module, FrameRef(m.group("file"), int(m.group("line")), m.group("fn"))
    return None


def crash_finding(exitcode: int | None, crumb: tuple[str, str] | None, dump: str,
                  module_files: dict[str, str], during: str) -> Finding:
    if exitcode is not None and exitcode < 0:
        try:
            what = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            what = f"killed by signal {-exitcode}"
    else:
        what = f"exited with code {exitcode}"
    found = innermost_module_frame(dump, module_files)
    site = found[1] if found else None  # only the dump knows a line; the breadcrumb does not
    module, function = (found[0], found[1].function) if found else (crumb or ("?", during))
    trace = [f"  at {site.file}:{site.line}"] if site else []
    return Finding(titles.CRASH.kind, titles.CRASH.format(what=what, fn=function), module, function,
                   f"the kernel process {what} during '{during}'", trace, site=site)


def hang_finding(crumb: tuple[str, str] | None, timeout: float, during: str) -> Finding:
    module, function = crumb or ("?", during)
    return Finding(titles.HANG.kind, titles.HANG.format(fn=function), module, function,
                   f"INFO: '{during}' did not return in {timeout:g} seconds and ignored "
                   "the timer signal; the kernel process was killed")
