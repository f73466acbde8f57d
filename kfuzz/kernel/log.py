"""The kernel log (dmesg) and the printk family that writes it.

pr_* and dev_* take a printf format and its arguments (printf.py), as Linux's do; a
message given alone is printed as written, so an f-string works as it always did.
Each line keeps its level (include/linux/kern_levels.h), as `dmesg -r` shows it.
"""

from __future__ import annotations

from typing import Protocol

from . import titles
from .chrdev import MiscDevice
from .current import current
from .device import Device
from .dyndbg import prefix, site_flags
from .frames import caller_site
from .misuse import misuse
from .printf import plain, vsprintf

MAX_LINES = 5000
# include/linux/kern_levels.h: KERN_SOH and the level digit, before the format
LOGLEVELS = ("EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG")
KERN_EMERG, KERN_ALERT, KERN_CRIT, KERN_ERR, KERN_WARNING, KERN_NOTICE, KERN_INFO, KERN_DEBUG = (
    f"\x01{n}" for n in range(8))
KERN_DEFAULT = "\x01d"
KERN_CONT = "\x01c"
MESSAGE_LOGLEVEL_DEFAULT = 4  # printk without a level: CONFIG_MESSAGE_LOGLEVEL_DEFAULT


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
        self.levels: list[int] = []  # each line's log level, 0 (KERN_EMERG) to 7 (KERN_DEBUG)
        self.suppressed = 0
        self.warned_format = False  # format_decode's WARN_ONCE
        self._clock = clock

    def write(self, msg: str, level: int = MESSAGE_LOGLEVEL_DEFAULT) -> None:
        if len(self.lines) >= MAX_LINES:
            self.suppressed += 1
            return
        stamp = self._clock.jiffies / self._clock.HZ
        for part in str(msg).rstrip("\n").split("\n"):
            line = f"[{stamp:12.6f}] {part}"
            self.lines.append(line)
            self.levels.append(level)
            if self.pstore is not None:
                self.pstore.write(line)

    def raw(self) -> list[str]:
        """The lines as `dmesg -r` prints them: `<LEVEL>[stamp] text`."""
        return [f"<{level}>{line}" for level, line in zip(self.levels, self.lines, strict=True)]

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


def _format(api: str, fmt: object, args: tuple[object, ...]) -> str:
    """The message: vsprintf of the format and arguments, or the text as written."""
    if not isinstance(fmt, str):
        if args:
            raise misuse(api, "the format", fmt, f'a str: {api}("format %d", args...), or one message')
        return str(fmt)
    if not args:
        return plain(fmt)
    text, bad = vsprintf(api, fmt, args)
    log = current().log
    if bad is not None and not log.warned_format:  # WARN_ONCE in format_decode
        log.warned_format = True
        current().warn(titles.PRINTF_UNSUPPORTED,
                       f"Please remove unsupported %{bad} in format string {fmt!r} ({api})")
    return text


def _prefixed(text: str) -> str:
    """The module's name before the message, as `pr_fmt(fmt) KBUILD_MODNAME ": " fmt`
    would put it; a message that already starts with "NAME:" keeps its own."""
    site = caller_site()
    if site is None or text.startswith(f"{site.module}:"):
        return text
    return f"{site.module}: {text}"


def printk(fmt: object, *args: object) -> None:
    """A leading KERN_<LEVEL> (`printk(KERN_ERR "...")`, written KERN_ERR + "...") sets the level."""
    level = MESSAGE_LOGLEVEL_DEFAULT
    if isinstance(fmt, str) and fmt[:1] == "\x01" and len(fmt) > 1:
        level = int(fmt[1]) if fmt[1] in "01234567" else level
        fmt = fmt[2:]
    current().log.write(_prefixed(_format("printk", fmt, args)), level)


def _pr(level: int, api: str, fmt: object, args: tuple[object, ...]) -> None:
    current().log.write(_prefixed(_format(api, fmt, args)), level)


def pr_emerg(fmt: object, *args: object) -> None:
    _pr(0, "pr_emerg", fmt, args)


def pr_alert(fmt: object, *args: object) -> None:
    _pr(1, "pr_alert", fmt, args)


def pr_crit(fmt: object, *args: object) -> None:
    _pr(2, "pr_crit", fmt, args)


def pr_err(fmt: object, *args: object) -> None:
    _pr(3, "pr_err", fmt, args)


def pr_warn(fmt: object, *args: object) -> None:
    _pr(4, "pr_warn", fmt, args)


def pr_notice(fmt: object, *args: object) -> None:
    _pr(5, "pr_notice", fmt, args)


def pr_info(fmt: object, *args: object) -> None:
    _pr(6, "pr_info", fmt, args)


def _dynamic_prefix(fmt: object) -> str | None:
    """The prefix of an enabled pr_debug or dev_dbg call site (dyndbg.py), None when it is off."""
    kernel = current()
    if not kernel.config.dyndbg and not any(m.dyndbg for m in kernel.loader.modules.values()):
        return None
    site = caller_site()
    if site is None:
        return "" if kernel.config.dyndbg else None
    mod = kernel.loader.modules.get(site.module)
    flags = site_flags(mod.dyndbg if mod else [], site, str(fmt), kernel.config.dyndbg)
    if "p" not in flags:
        return None
    task = kernel.task
    return prefix(flags, site, task.pid, bool(task.hardirq or task.serving_softirq))


def pr_debug(fmt: object, *args: object) -> None:
    """Dynamic debug: off unless a `dyndbg` query of the module, or the kernel setting
    `dyndbg=1`, enabled the call site (dyndbg.py)."""
    head = _dynamic_prefix(fmt)
    if head is not None:
        current().log.write(head + _prefixed(_format("pr_debug", fmt, args)), 7)


def dev_name(api: str, dev: object) -> str:
    """dev_printk's "driver device" (dev_driver_string, dev_name): of a Device, a
    MiscDevice (its node's device, of class "misc"), or what an object's `.dev` is (a
    USB interface's); "(NULL device *)" for NULL."""
    seen = 0
    while dev is not None and not isinstance(dev, (Device, MiscDevice)) and seen < 4:
        inner = getattr(dev, "dev", None) if not isinstance(dev, (int, str, bytes)) else None
        if inner is None:
            raise misuse(api, "the device", dev, "a Device, a MiscDevice or an object with a .dev "
                         "(a USB interface)")
        dev, seen = inner, seen + 1
    if dev is None:
        return "(NULL device *)"
    if isinstance(dev, MiscDevice):
        return f"misc {dev.name}"
    if isinstance(dev, Device):
        return f"{dev.driver_name} {dev.name}"
    raise misuse(api, "the device", dev, "a Device within four .dev attributes")


def _dev(level: int, api: str, dev: object, fmt: object, args: tuple[object, ...]) -> None:
    current().log.write(f"{dev_name(api, dev)}: {_format(api, fmt, args)}", level)


def dev_emerg(dev: object, fmt: object, *args: object) -> None:
    _dev(0, "dev_emerg", dev, fmt, args)


def dev_alert(dev: object, fmt: object, *args: object) -> None:
    _dev(1, "dev_alert", dev, fmt, args)


def dev_crit(dev: object, fmt: object, *args: object) -> None:
    _dev(2, "dev_crit", dev, fmt, args)


def dev_err(dev: object, fmt: object, *args: object) -> None:
    _dev(3, "dev_err", dev, fmt, args)


def dev_warn(dev: object, fmt: object, *args: object) -> None:
    _dev(4, "dev_warn", dev, fmt, args)


def dev_notice(dev: object, fmt: object, *args: object) -> None:
    _dev(5, "dev_notice", dev, fmt, args)


def dev_info(dev: object, fmt: object, *args: object) -> None:
    _dev(6, "dev_info", dev, fmt, args)


def dev_dbg(dev: object, fmt: object, *args: object) -> None:
    """Dynamic debug, as pr_debug: the site's prefix, then "driver device: message".

    Linux's dev_dbg is a macro whose arguments are evaluated only when its call site
    is on (include/linux/dynamic_debug.h: `if (DYNAMIC_DEBUG_BRANCH(id)) func(&id,
    ...)`; without CONFIG_DYNAMIC_DEBUG, `if (0)`). A device given as a function of no
    arguments is that laziness: `lambda: dev.interface.dev` for
    `&dev->interface->dev`, whose address C computes without a load, is called only
    with the site on, so a NULL `dev->interface` oopses there and only there."""
    lazy = callable(dev) and not isinstance(dev, (Device, MiscDevice))
    if not lazy:
        dev_name("dev_dbg", dev)  # a wrong device is a misuse even with the site off
    head = _dynamic_prefix(fmt)
    if head is not None:
        name = dev_name("dev_dbg", dev() if lazy and callable(dev) else dev)
        current().log.write(f"{head}{name}: {_format('dev_dbg', fmt, args)}", 7)
