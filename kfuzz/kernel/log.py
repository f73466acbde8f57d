"""The kernel log (dmesg) and the printk family that writes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .current import current
from .frames import caller_site

if TYPE_CHECKING:
    from .device import Device

MAX_LINES = 5000


class Clock(Protocol):
    """What stamps a log line: the kernel's jiffies and HZ."""

    @property
    def jiffies(self) -> int: ...

    @property
    def HZ(self) -> int: ...


class LineSink(Protocol):
    """Where each line is kept as well: the worker's pstore."""

    def write(self, line: str) -> None: ...


class Log:
    """dmesg: Linux-style lines with a timestamp from the simulated clock.

    Bounded, as the kernel's ring buffer is: a module that prints without end
    costs a counter, not memory.
    """

    # the worker's pstore: each line is kept there too, to outlive a dying worker
    pstore: LineSink | None = None

    def __init__(self, clock: Clock):
        self.lines: list[str] = []
        self.suppressed = 0
        self._clock = clock

    def write(self, msg: str) -> None:
        if len(self.lines) >= MAX_LINES:
            self.suppressed += 1
            return
        stamp = self._clock.jiffies / self._clock.HZ
        for part in str(msg).rstrip("\n").split("\n"):
            line = f"[{stamp:12.6f}] {part}"
            self.lines.append(line)
            if self.pstore is not None:
                self.pstore.write(line)

    def dmesg(self) -> list[str]:
        if self.suppressed:
            return self.lines + [f"printk: {self.suppressed} messages suppressed"]
        return list(self.lines)


class PrintRedirect:
    """A file-like object for sys.stdout: what module code prints lands in dmesg."""

    def __init__(self, log: Log):
        self._log = log
        self._partial = ""

    def write(self, text: str) -> int:
        text = self._partial + str(text)
        *lines, self._partial = text.split("\n")
        for line in lines:
            self._log.write(line)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._log.write(self._partial)
            self._partial = ""


def _prefixed(msg: object) -> str:
    """The module's name before the message, as `pr_fmt(fmt) KBUILD_MODNAME ": " fmt`
    would put it; a message that already starts with "NAME:" keeps its own."""
    site = caller_site()
    text = str(msg)
    if site is None or text.startswith(f"{site.module}:"):
        return text
    return f"{site.module}: {text}"


def printk(msg: object) -> None:
    current().log.write(_prefixed(msg))


def pr_info(msg: object) -> None:
    current().log.write(_prefixed(msg))


def pr_warn(msg: object) -> None:
    current().log.write(_prefixed(msg))


def pr_err(msg: object) -> None:
    current().log.write(_prefixed(msg))


def pr_debug(msg: object) -> None:
    """Dynamic debug (lib/dynamic_debug.c): off unless the kernel setting `dyndbg=1`."""
    kernel = current()
    if kernel.config.dyndbg:
        kernel.log.write(_prefixed(msg))


def dev_info(dev: Device, msg: object) -> None:
    current().log.write(f"{dev.driver_name} {dev.name}: {msg}")


def dev_err(dev: Device, msg: object) -> None:
    current().log.write(f"{dev.driver_name} {dev.name}: {msg}")


dev_warn = dev_err
pr_notice = pr_info
