"""Running a program on a fresh kernel, then the end-of-program checks."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..kernel import Finding, Kernel, KernelConfig, ModuleIndex
from ..kernel.device import Device, parse_device_id
from ..kernel.errno import EBADF, ENODEV, errname
from ..kernel.fs import File
from ..kernel.log import PrintRedirect
from ..kernel.signing import load_public
from .heapcheck import check_python_leak
from .parse import parse_data, parse_int
from .program import Op, Program


@dataclass
class Outcome:
    """What a program did: its first finding, the kernel log, each line's result."""

    finding: Finding | None
    dmesg: list[str]
    results: list[tuple[Op, str]] = field(default_factory=list)
    taints: str = "G"

    @property
    def failed(self) -> bool:
        return self.finding is not None


def kernel_config(settings: dict[str, str]) -> KernelConfig:
    keys = ()
    if settings.get("keyring"):
        keys = (load_public(Path(settings["keyring"])),)
    return KernelConfig(
        sig_enforce=settings.get("sig_enforce") == "1",
        autoload=settings.get("autoload", "1") == "1",
        panic_on_warn=settings.get("panic_on_warn") == "1",
        modules_disabled=settings.get("modules_disabled") == "1",
        trusted_keys=keys,
    )


def program_index(prog: Program) -> ModuleIndex:
    return ModuleIndex.scan(prog.modules)


def _params(args: tuple[str, ...]) -> dict[str, str]:
    return dict(a.split("=", 1) for a in args)


def describe(result: Any) -> str:
    if isinstance(result, bool) or result is None:
        return str(result)
    if isinstance(result, int):
        return errname(result) if result < 0 else str(result)
    if isinstance(result, (bytes, bytearray)):
        return repr(bytes(result))
    if isinstance(result, (Device, File)):
        return repr(result)
    return repr(result)


def execute(kernel: Kernel, op: Op, names: dict[str, Any]) -> Any:
    """Runs one operation; binds its name when it succeeded."""
    a = op.args
    kw = {"fail_nth": op.fail_nth, "nobody": op.nobody}
    verb = op.verb
    if verb == "insmod":
        return kernel.do("insmod", a[0], _params(a[1:]), **kw)
    if verb == "rmmod":
        return kernel.do("rmmod", a[0], a[1:] == ("-f",), **kw)
    if verb == "modprobe":
        if a[0] == "-r":
            return kernel.do("modprobe_remove", a[1], **kw)
        return kernel.do("modprobe", a[0], _params(a[1:]), **kw)
    if verb in ("plug", "open"):
        arg = parse_device_id(a[0], a[1]) if verb == "plug" else a[0]
        result = kernel.do(verb, a[0], arg, **kw) if verb == "plug" else kernel.do(verb, arg, **kw)
        if isinstance(result, (Device, File)) and op.bind:
            names[op.bind] = result
        return result
    if verb == "unplug":
        dev = names.get(a[0])
        return kernel.do("unplug", dev, **kw) if isinstance(dev, Device) else -ENODEV
    if verb in ("read", "write", "ioctl", "close"):
        file = names.get(a[0])
        if not isinstance(file, File):
            return -EBADF
        if verb == "read":
            return kernel.do("read", file, parse_int(a[1]), **kw)
        if verb == "write":
            return kernel.do("write", file, parse_data(a[1]), **kw)
        if verb == "ioctl":
            return kernel.do("ioctl", file, parse_int(a[1]), parse_int(a[2]), **kw)
        return kernel.do("close", file, **kw)
    if verb == "irq":
        if a[0] in names or not a[0][:1].isdigit():
            dev = names.get(a[0])
            return kernel.do("irq", dev.irq, **kw) if isinstance(dev, Device) else -ENODEV
        return kernel.do("irq", parse_int(a[0]), **kw)
    if verb == "tick":
        return kernel.do("tick", parse_int(a[0]), **kw)
    if verb == "suspend":
        return kernel.do("suspend", **kw)
    if verb == "sysctl":
        return kernel.do("sysctl", a[0], a[1], **kw)
    raise ValueError(f"unknown operation {verb}")


def run_program(prog: Program, index: ModuleIndex | None = None,
                config: KernelConfig | None = None,
                guard: Callable[[Op], contextlib.AbstractContextManager[Any]] | None = None) -> Outcome:
    """Runs the program on a fresh kernel; its outcome is its first finding.

    `guard` wraps each operation (the worker arms its hang timer there).
    """
    index = index if index is not None else program_index(prog)
    kernel = Kernel(index, config if config is not None else kernel_config(prog.settings))
    names: dict[str, Any] = {}
    results: list[tuple[Op, str]] = []
    guard = guard or (lambda op: contextlib.nullcontext())

    def run_ops() -> None:
        for op in prog.ops:
            with guard(op):
                result = execute(kernel, op, names)
            results.append((op, describe(result)))
            if kernel.findings:
                return

    sink = PrintRedirect(kernel.log)
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        if "python-leak" in prog.checks:
            check_python_leak(kernel, lambda: (results.clear(), run_ops()))
        else:
            run_ops()
        if not kernel.findings:
            kernel.do("cleanup")
        sink.flush()
    finding = kernel.findings[0] if kernel.findings else None
    return Outcome(finding, kernel.log.dmesg(), results, kernel.taint_string())
