"""The one table of operations: each `.kfz` verb, its arguments, its kernel handler.

Parsing, printing, the names an operation uses and binds, renumbering,
minimization and the state machine's generation all walk this table. A new
verb is one entry here and its handler in the kernel subsystem it drives.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from ..kernel import Kernel
from ..kernel.device import Device, DeviceId
from ..kernel.errno import ESRCH
from ..kernel.hcd import usb_device_answer
from ..kernel.usb import usb_reset
from ..kernel.usbdesc import Endpoints
from .args import (
    MODNAME,
    SETFL_NAMES,
    WHENCE_NAMES,
    ArgKind,
    DataArg,
    DeviceIdArg,
    Flag,
    Int,
    IoctlArg,
    Line,
    NamedInt,
    OpenFlags,
    ParamsArg,
    PathArg,
    SettingArg,
    Use,
    Word,
)
from .usbargs import EndpointsArg, UrbReplyArg

Handler = Callable[..., object]  # called with the resolved arguments


@dataclass(frozen=True)
class Props:
    """The generic properties any operation may carry, parsed and minimized generically.

    `fail_nth` is written `(fail_nth: N)` after the operation, `nobody` as `as nobody`
    before it. Minimizing tries each at its default.
    """

    fail_nth: int | None = None
    nobody: bool = False

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def __reduce__(self) -> tuple[type[Props], tuple[object, ...]]:
        # a tuple of the values pickles at a fraction of a dataclass's cost (one per operation)
        return Props, tuple(self.__dict__.values())

    def without(self, name: str) -> Props:
        """These properties with one back at its default, for the minimizer."""
        return replace(self, **{name: getattr(Props(), name)})


# what the fuzzer draws for an operation's properties
DRAW_EXTRAS = "extras"  # mostly none, some fault injection, some `as nobody`
DRAW_FAULTS = "faults"  # mostly none, some fault injection
DRAW_NONE = ""


@dataclass(frozen=True)
class OpSpec:
    """One verb. `binds` is the resource (`fd`, `dev`) a `-> name` holds."""

    verb: str
    args: tuple[ArgKind, ...]
    handler: Handler
    binds: str | None = None
    props: tuple[str, ...] = ("fail_nth", "nobody")
    draw: str = DRAW_FAULTS  # the properties the fuzzer draws
    after: int = 0  # the fuzzer uses it only after this many operations
    rule: str = ""  # the state machine's rule: verbs that share one are drawn as one step
    group_only: bool = False  # only a task of a `together` group runs it (`kill t1`)

    @property
    def rule_name(self) -> str:
        return self.rule or self.verb

    @property
    def usage(self) -> str:
        words = [self.verb, *(a.usage for a in self.args)]
        if self.binds:
            words.append(f"-> {self.binds}N")
        return " ".join(words)

    @property
    def needs_devices(self) -> bool:
        """Whether it only makes sense where a device table can be plugged."""
        return self.binds == "dev" or any(
            isinstance(a, (DeviceIdArg, Line)) or (isinstance(a, Use) and a.resource == "dev")
            for a in self.args)


def _plug(kernel: Kernel, dev_id: DeviceId, endpoints: Endpoints) -> Device | int:
    if dev_id.bus == "usb":
        return kernel.usb.plug(dev_id, endpoints)
    return kernel.bus.plug(dev_id)


def _bind(kernel: Kernel, dev: Device) -> int:
    return kernel.bus.bind_device(dev)


def _unbind(kernel: Kernel, dev: Device) -> int:
    return kernel.bus.unbind_device(dev)


def _kill(kernel: Kernel, task: str) -> int:
    """A signal to another task of the group: its interruptible waits end (-ERESTARTSYS)."""
    return kernel.sched.signal(int(task[1:]))


def _poke(kernel: Kernel, task: str, data: bytes) -> int:
    """Another thread writes the user buffer task N's system call passed, in the middle
    of that call when the schedule says so: what a double fetch must not trust."""
    threads = kernel.sched.threads
    num = int(task[1:])
    if not 0 < num <= len(threads):
        return -ESRCH
    return kernel.uaccess.poke(threads[num - 1].task, data)


def _sysctl(kernel: Kernel, setting: tuple[str, str]) -> int:
    return kernel._op_sysctl(*setting)


TASK_WORD = re.compile(r"t[1-9]$")
LOAD = (Word("NAME", "module", pattern=MODNAME), ParamsArg("[key=value ...]", "params"))
# modprobe also takes a device's modalias (DeviceId.modalias), as udev passes it
MODALIAS_WORD = re.compile(MODNAME.pattern + r"|(pci|usb):v[0-9A-Fa-f]{8}d[0-9A-Fa-f]{8}$|platform:\S+$")
PROBE = (Word("NAME", "module", pattern=MODALIAS_WORD), LOAD[1])
LOADED = Word("NAME", "loaded", pattern=MODNAME)
FD = Use("fdN", "fd", resource="fd")
DEV = Use("devN", "dev", resource="dev")
USBDEV = Use("devN", "usbdev", resource="dev")  # the fuzzer draws a usb device for it

TABLE: tuple[OpSpec, ...] = (
    OpSpec("insmod", LOAD, Kernel._op_insmod, draw=DRAW_EXTRAS, rule="load"),
    OpSpec("rmmod", (LOADED, Flag("[-f]", word="-f", fuzzed=False)), Kernel._op_rmmod,
           draw=DRAW_EXTRAS, rule="unload"),
    OpSpec("modprobe", PROBE, Kernel._op_modprobe, draw=DRAW_EXTRAS, rule="load"),
    OpSpec("modprobe -r", (LOADED,), Kernel._op_modprobe_remove, draw=DRAW_EXTRAS, rule="unload"),
    OpSpec("plug", (DeviceIdArg("BUS ID", "device"), EndpointsArg("[ENDPOINTS]", "endpoints")), _plug,
           binds="dev"),
    OpSpec("unplug", (Use("devN", "dev", resource="dev", consumes=True),), Kernel._op_unplug,
           draw=DRAW_NONE),
    OpSpec("unbind", (DEV,), _unbind, rule="bind"),
    OpSpec("bind", (DEV,), _bind, rule="bind"),
    OpSpec("open", (PathArg("PATH", "path"), OpenFlags("[FLAGS]", "flags")), Kernel._op_open, binds="fd",
           draw=DRAW_EXTRAS),
    OpSpec("read", (FD, Int("COUNT", "count", minimum=0)), Kernel._op_read),
    OpSpec("write", (FD, DataArg("DATA", "data")), Kernel._op_write),
    OpSpec("ioctl", (FD, Int("CMD", "cmd", plain=False), IoctlArg("ARG|DATA", "arg")), Kernel._op_ioctl),
    # the rest of struct file, one step of the state machine between them: three rules of
    # their own would take their share of every step from the operations races need
    OpSpec("lseek", (FD, Int("OFFSET", "offset"), NamedInt("WHENCE", "whence", names=WHENCE_NAMES)),
           Kernel._op_lseek, rule="file"),
    OpSpec("poll", (FD,), Kernel._op_poll, rule="file"),
    OpSpec("fcntl", (FD, NamedInt("FLAGS", "setfl", names=SETFL_NAMES, bits=True)), Kernel._op_fcntl,
           rule="file"),
    OpSpec("close", (Use("fdN", "fd", resource="fd", consumes=True),), Kernel._op_close,
           draw=DRAW_NONE),
    OpSpec("irq", (Line("N|devN", "line"),), Kernel._op_irq),
    # the usb device answers an URB on endpoint EP (kernel/hcd.py); a reset runs pre/post_reset
    OpSpec("urb", (USBDEV, Int("EP", "endpoint", minimum=0, plain=False),
                   UrbReplyArg("DATA|-ERRNO", "reply")), usb_device_answer, props=("fail_nth",)),
    OpSpec("reset", (DEV,), usb_reset, rule="bind"),
    OpSpec("tick", (Int("N", "jiffies", minimum=0),), Kernel._op_tick),
    OpSpec("suspend", (), Kernel._op_suspend),
    OpSpec("sysctl", (SettingArg("NAME VALUE", "sysctl"),), _sysctl, draw=DRAW_NONE, after=8),
    OpSpec("kill", (Word("tN", "task", pattern=TASK_WORD),), _kill, props=(), draw=DRAW_NONE,
           group_only=True),
    OpSpec("poke", (Word("tN", "task", pattern=TASK_WORD), DataArg("DATA", "data")), _poke, props=(),
           draw=DRAW_NONE, group_only=True),
)

def _together(kernel: Kernel) -> None:
    raise TypeError("a group runs through KernelSession.execute, not a handler")


# A concurrent group's entry: its tasks are operations of their own (program.Group)
TOGETHER = OpSpec("together", (), _together, props=(), draw=DRAW_NONE)

SPECS: dict[str, OpSpec] = {spec.verb: spec for spec in TABLE}
VERBS: tuple[str, ...] = tuple(dict.fromkeys(spec.verb.split()[0] for spec in TABLE))


def usage(first_word: str) -> str:
    """Every usage of a verb (`modprobe NAME ... or modprobe -r NAME`)."""
    return " or ".join(s.usage for s in TABLE if s.verb.split()[0] == first_word)
