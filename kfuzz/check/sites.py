"""What a module could do, read from its source without running it: the fallible
calls it makes (by call site) and the file operations its FileOperations declare.

The checklist ends with what no check reached; these are the lists it compares with.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..kernel.ioctl import _IO, _IOR, _IOW, _IOWR, arg_size

# module-api.md's fallible calls, and the kapi names that are the same function
FALLIBLE = frozenset({
    "kmalloc", "kzalloc", "kcalloc", "devm_kzalloc", "register_chrdev", "misc_register",
    "driver_register", "pci_register_driver", "usb_register", "platform_driver_register",
    "request_irq", "devm_request_irq", "alloc_workqueue", "create_singlethread_workqueue",
    "proc_create", "proc_create_data", "register_pm_notifier", "kstrdup", "kstrndup", "kmemdup",
    "kvmalloc", "kvzalloc", "ida_alloc", "ida_alloc_range", "ida_alloc_min", "ida_alloc_max",
    "module_driver", "module_platform_driver", "module_pci_driver",
})

# a FileOperations keyword -> the operation of a program that calls it
FOPS = {"open": "open", "read": "read", "write": "write", "unlocked_ioctl": "ioctl",
        "release": "release", "llseek": "lseek", "flush": "flush", "poll": "poll", "fasync": "fcntl"}


@dataclass(frozen=True)
class CallSite:
    """A fallible call in module code."""

    module: str
    function: str
    line: int
    call: str

    @property
    def key(self) -> str:
        """As an operation's `fault_site` names it."""
        return f"{self.module}:{self.line}"

    def format(self, path: Path) -> str:
        return f"{self.call} in {self.function} ({path.name}:{self.line})"


@dataclass(frozen=True)
class DeclaredFop:
    """One callback of a FileOperations in the source: `ringdev_fops.read`."""

    fops: str
    op: str  # what shows it was reached (probe.exposed_by): open, read, ..., lseek, flush, poll, fcntl
    function: str
    field: str = ""  # its FileOperations keyword, when other than `op` (llseek, fasync)

    def format(self) -> str:
        return f"{self.fops}.{self.field or self.op} ({self.function})"


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _functions(tree: ast.Module) -> list[tuple[int, int, str]]:
    return [(n.lineno, n.end_lineno or n.lineno, n.name) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _function_at(funcs: list[tuple[int, int, str]], line: int, module: str) -> str:
    inner = [(start, name) for start, end, name in funcs if start <= line <= end]
    return max(inner)[1] if inner else f"{module}_module_body"


def fallible_sites(module: str, source: str) -> list[CallSite]:
    """Each call of a fallible kapi function, in line order."""
    tree = ast.parse(source)
    funcs = _functions(tree)
    sites = {CallSite(module, _function_at(funcs, n.lineno, module), n.lineno, _called(n))
             for n in ast.walk(tree) if isinstance(n, ast.Call) and _called(n) in FALLIBLE}
    return sorted(sites, key=lambda s: (s.line, s.call))


def declared_fops(source: str) -> list[DeclaredFop]:
    """Each callback a `NAME = FileOperations(...)` assignment names."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and _called(node.value) == "FileOperations"):
            continue
        target = node.targets[0]
        name = target.id if isinstance(target, ast.Name) else "fops"
        for kw in node.value.keywords:
            if kw.arg in FOPS and not (isinstance(kw.value, ast.Constant) and kw.value.value is None):
                out.append(DeclaredFop(name, FOPS[kw.arg], ast.unparse(kw.value), kw.arg))
    return out


IOC_MACROS: dict[str, Callable[..., int]] = {"_IO": _IO, "_IOR": _IOR, "_IOW": _IOW, "_IOWR": _IOWR}


def _constant(node: ast.expr) -> int | str | None:
    """An int or one-character string literal, `ord('c')` as its int."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, str)):
        return node.value
    if isinstance(node, ast.Call) and _called(node) == "ord" and len(node.args) == 1:
        value = _constant(node.args[0])
        return ord(value) if isinstance(value, str) and len(value) == 1 else None
    return None


def _ioctl_value(node: ast.expr) -> int | None:
    """A literal int, or `_IOR('c', 1, 8)` and its kin with literal arguments."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Call) and _called(node) in IOC_MACROS:
        args = [_constant(a) for a in node.args]
        if None not in args:
            try:
                return IOC_MACROS[_called(node)](*args)
            except (TypeError, ValueError):
                return None
    return None


def ioctl_numbers(source: str) -> list[int]:
    """The module's ioctl commands: module-level `NAME = int` (or `= _IOW(...)`) whose
    NAME says IOC, or any `_IO*(...)` assignment."""
    out = []
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        value = _ioctl_value(node.value)
        if value is not None and ("IOC" in node.targets[0].id or isinstance(node.value, ast.Call)):
            out.append(value)
    return list(dict.fromkeys(out))


def ioctl_line(cmd: int) -> str:
    """An ioctl of the command with a zeroed buffer of the size it encodes (0 if none)."""
    size = arg_size(cmd)
    return f"ioctl fd0 {cmd:#x} " + (f"x'{bytes(size).hex()}'" if size else "0")
