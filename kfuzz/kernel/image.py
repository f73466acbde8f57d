"""Module files read without running them: modinfo, depmod and the compiled code.

Each file is read, checked and compiled once per process; every load reuses the
code object, so an insmod costs what running the module's body and init costs.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType
from typing import Any

from .device import PCI_ANY_ID, DeviceId, pci_device_id, platform_device_id, usb_device_id
from .signing import Signature, split_signature, verify

GPL_COMPATIBLE = ("GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                  "Dual MIT/GPL", "Dual MPL/GPL")
ParamValue = int | bool | str  # a module parameter's value, of one of PARAM_TYPES
PARAM_TYPES: dict[str, type[int] | type[bool] | type[str]] = {"int": int, "bool": bool, "str": str}
ID_MAKERS: dict[str, Callable[..., DeviceId]] = {
    "pci_device_id": pci_device_id, "usb_device_id": usb_device_id,
    "platform_device_id": platform_device_id}


class ModuleFileError(Exception):
    """A module file that cannot be used, with the place and the fix."""

    def __init__(self, path: Path, lineno: int, message: str, fix: str = ""):
        self.path, self.lineno, self.message, self.fix = path, lineno, message, fix
        text = f"{path}:{lineno}: {message}"
        super().__init__(f"{text}\n  fix: {fix}" if fix else text)


@dataclass(frozen=True)
class ParamInfo:
    name: str
    type: str
    default: ParamValue
    desc: str
    lineno: int

    def convert(self, text: str) -> ParamValue:
        """A value as given on the insmod line; ValueError if it does not convert."""
        if self.type == "int":
            return int(text, 0)
        if self.type == "bool":
            low = text.lower()
            if low in ("1", "y", "yes", "true", "on"):
                return True
            if low in ("0", "n", "no", "false", "off"):
                return False
            raise ValueError(text)
        return text


@dataclass(eq=False)
class ModuleImage:
    """Everything modinfo and depmod know of a module file, and its code."""

    name: str
    path: Path
    code: CodeType
    license: str | None = None
    description: str = ""
    author: str = ""
    params: dict[str, ParamInfo] = field(default_factory=dict)
    imports: list[str] = field(default_factory=list)
    exports: dict[str, bool] = field(default_factory=dict)
    softdep_pre: list[str] = field(default_factory=list)
    softdep_post: list[str] = field(default_factory=list)
    device_table: list[DeviceId] = field(default_factory=list)
    has_init: bool = False
    has_exit: bool = False
    ints: list[int] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    size: int = 0
    content: bytes = b""
    signature: Signature | None = None
    _verified: dict[tuple[bytes, ...], str] = field(default_factory=dict)

    @property
    def gpl_compatible(self) -> bool:
        return self.license in GPL_COMPATIBLE

    def signature_state(self, trusted: tuple[bytes, ...]) -> str:
        state = self._verified.get(trusted)
        if state is None:
            state = self._verified[trusted] = verify(self.content, self.signature, trusted)
        return state


def _const(node: ast.expr, path: Path) -> Any:
    """A literal of the module's metadata: whatever Python literal the file has, which
    the caller takes as the type its declaration needs."""
    names = {"PCI_ANY_ID": PCI_ANY_ID, "True": True, "False": False, "None": None}
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ModuleFileError(path, node.lineno, f"'{ast.unparse(node)}' is not a constant",
                              "module metadata must be written as literals") from None


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _call(node: ast.AST) -> ast.Call | None:
    """The node as a call of a plain name, as metadata is written."""
    return node if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None


class _Reader:
    """Walks the syntax tree once and collects the module's declarations."""

    def __init__(self, image: ModuleImage):
        self.image = image
        self.path = image.path

    def read(self, tree: ast.Module) -> None:
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                    and isinstance(stmt.targets[0], ast.Name):
                self.assignment(stmt.targets[0].id, stmt.value)
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for dec in stmt.decorator_list:
                    if isinstance(dec, ast.Name):
                        self.marker(dec.id, stmt.name)
        for node in ast.walk(tree):
            call = _call(node)
            if call is None:
                if isinstance(node, ast.Constant):
                    self.constant(node.value)
                continue
            name = _call_name(call) or ""
            if name == "module_param":
                self.param(call)
            elif name == "import_symbol" and call.args:
                sym = _const(call.args[0], self.path)
                if sym not in self.image.imports:
                    self.image.imports.append(sym)
            elif call.args and isinstance(call.args[0], ast.Name):
                self.marker(name, call.args[0].id)

    def constant(self, value: object) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            if value not in self.image.ints:
                self.image.ints.append(value)
        elif isinstance(value, str) and 0 < len(value) <= 64 and value not in self.image.strings:
            self.image.strings.append(value)

    def marker(self, name: str, target: str) -> None:
        img = self.image
        if name == "EXPORT_SYMBOL":
            img.exports[target] = False
        elif name == "EXPORT_SYMBOL_GPL":
            img.exports[target] = True
        elif name == "module_init":
            img.has_init = True
        elif name == "module_exit":
            img.has_exit = True

    def assignment(self, name: str, value: ast.expr) -> None:
        img = self.image
        if name == "MODULE_LICENSE":
            img.license = _const(value, self.path)
        elif name == "MODULE_DESCRIPTION":
            img.description = _const(value, self.path)
        elif name == "MODULE_AUTHOR":
            img.author = _const(value, self.path)
        elif name == "MODULE_SOFTDEP":
            self.softdep(_const(value, self.path), value.lineno)
        elif name == "MODULE_DEVICE_TABLE":
            if not isinstance(value, (ast.List, ast.Tuple)):
                raise ModuleFileError(self.path, value.lineno, "MODULE_DEVICE_TABLE must be a list",
                                      "write MODULE_DEVICE_TABLE = [pci_device_id(0x8086, 0x1234)]")
            img.device_table = [self.device_id(e) for e in value.elts]

    def softdep(self, text: str, lineno: int) -> None:
        slot = None
        for word in str(text).split():
            if word in ("pre:", "post:"):
                slot = self.image.softdep_pre if word == "pre:" else self.image.softdep_post
            elif slot is None:
                raise ModuleFileError(self.path, lineno, f"MODULE_SOFTDEP '{text}' has no 'pre:' or 'post:'",
                                      'write MODULE_SOFTDEP = "pre: othermod"')
            else:
                slot.append(word)

    def device_id(self, node: ast.expr) -> DeviceId:
        call = _call(node)
        name = _call_name(node) or ""
        if call is None or name not in ID_MAKERS:
            raise ModuleFileError(self.path, node.lineno, f"'{ast.unparse(node)}' is not a device id",
                                  "use pci_device_id(v, d), usb_device_id(v, p) or platform_device_id(name)")
        args = [_const(a, self.path) for a in call.args]
        kwargs = {k.arg: _const(k.value, self.path) for k in call.keywords if k.arg}
        try:
            return ID_MAKERS[name](*args, **kwargs)
        except TypeError as err:
            raise ModuleFileError(self.path, node.lineno, f"bad device id: {err}") from None

    def param(self, node: ast.Call) -> None:
        fix = 'write module_param("name", int, 0, desc="what it sets")'
        args = list(node.args)
        kw = {k.arg: k.value for k in node.keywords}
        for i, key in enumerate(("name", "type", "default", "desc")):
            if i < len(args):
                kw.setdefault(key, args[i])
        if "name" not in kw or "type" not in kw:
            raise ModuleFileError(self.path, node.lineno, "module_param needs a name and a type", fix)
        pname = _const(kw["name"], self.path)
        ptype = kw["type"].id if isinstance(kw["type"], ast.Name) else None
        if ptype not in PARAM_TYPES:
            raise ModuleFileError(self.path, node.lineno,
                                  f"module_param '{pname}': type must be int, bool or str", fix)
        default = _const(kw["default"], self.path) if "default" in kw else PARAM_TYPES[ptype]()
        if type(default) is not PARAM_TYPES[ptype]:
            raise ModuleFileError(self.path, node.lineno,
                                  f"module_param '{pname}': default {default!r} is not {ptype}", fix)
        if pname in self.image.params:
            raise ModuleFileError(self.path, node.lineno, f"module_param '{pname}' declared twice",
                                  "give each parameter one module_param call")
        desc = _const(kw["desc"], self.path) if "desc" in kw else ""
        self.image.params[pname] = ParamInfo(pname, ptype, default, desc, node.lineno)


def read_image(path: Path) -> ModuleImage:
    """Reads, checks and compiles one module file (modpost's checks included)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModuleFileError(path, 0, f"cannot read module file: {err.strerror}") from None
    content, sig = split_signature(data)
    try:
        source = content.decode()
        tree = ast.parse(source, filename=str(path))
        code = compile(tree, str(path.resolve()), "exec")
    except UnicodeDecodeError:
        raise ModuleFileError(path, 1, "module file is not UTF-8 text") from None
    except SyntaxError as err:
        raise ModuleFileError(path, err.lineno or 0, f"syntax error: {err.msg}",
                              "the module file must be valid Python") from None
    image = ModuleImage(path.stem.replace("-", "_"), path, code, size=len(data),
                        content=content, signature=sig)
    _Reader(image).read(tree)
    if image.license is None:
        raise ModuleFileError(path, 1, "missing MODULE_LICENSE",
                              'add MODULE_LICENSE = "GPL" (or the licence the code is under)')
    if not image.has_init:
        raise ModuleFileError(path, 1, "missing module_init",
                              "decorate the init function with @module_init; it returns 0 or -errno")
    return image


_cache: dict[tuple[str, int, int], ModuleImage] = {}


def cached_image(path: Path) -> ModuleImage:
    """read_image, once per file version and process."""
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)
    image = _cache.get(key)
    if image is None:
        image = _cache[key] = read_image(path)
    return image
