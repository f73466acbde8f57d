"""What modinfo and depmod read of a module file without running it: its
declarations, walked once in the syntax tree, and the one-line error for a bad one."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..textfile import Unreadable, one_line, shorten
from .device import PCI_ANY_ID, DeviceId, pci_device_id, platform_device_id, usb_device_id
from .params import PARAM_NAME, PARAM_TYPES, ParamInfo, in_range

if TYPE_CHECKING:
    from .image import ModuleImage

ID_MAKERS: dict[str, Callable[..., DeviceId]] = {
    "pci_device_id": pci_device_id, "usb_device_id": usb_device_id, "USB_DEVICE": usb_device_id,
    "platform_device_id": platform_device_id}


class ModuleFileError(Exception):
    """A module file that cannot be used, on one line: `PATH:LINE: what; fix: how`
    (no LINE where the trouble is the whole file)."""

    def __init__(self, path: Path, lineno: int, message: str, fix: str = ""):
        self.path, self.lineno, self.message, self.fix = path, lineno, message, fix
        text = f"{path}:{lineno}: " if lineno else f"{path}: "
        super().__init__(one_line(text + shorten(message) + (f"; fix: {fix}" if fix else "")))

    @classmethod
    def unreadable(cls, path: Path, err: Unreadable) -> ModuleFileError:
        return cls(path, err.lineno, err.message, err.fix)


def _shown(node: ast.AST) -> str:
    """A node as the file wrote it, cut short for an error message."""
    try:
        text = ast.unparse(node)
    except (RecursionError, MemoryError, ValueError):  # nested too deep, an int of 5,000 digits
        return f"<{type(node).__name__} too large to show>"
    return text if len(text) <= 60 else f"{text[:57]}..."


def _const(node: ast.expr, path: Path) -> Any:
    """A literal of the module's metadata: whatever Python literal the file has, which
    the caller takes as the type its declaration needs."""
    names = {"PCI_ANY_ID": PCI_ANY_ID, "True": True, "False": False, "None": None}
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, RecursionError, MemoryError):  # TypeError: {[1]: 2}
        raise ModuleFileError(path, node.lineno, f"'{_shown(node)}' is not a constant",
                              "module metadata must be written as literals") from None


def _text(node: ast.expr, path: Path, what: str, fix: str) -> str:
    """A literal that must be a string (a licence, a symbol name, a description)."""
    value = _const(node, path)
    if not isinstance(value, str):
        raise ModuleFileError(path, node.lineno, f"{what} is {_shown(node)}, not a string", fix)
    return value


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _call(node: ast.AST) -> ast.Call | None:
    """The node as a call of a plain name, as metadata is written."""
    return node if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None


TEXT_FIELDS = {"MODULE_LICENSE": "license", "MODULE_DESCRIPTION": "description",
               "MODULE_AUTHOR": "author", "MODULE_SOFTDEP": ""}


class MetadataReader:
    """Walks the syntax tree once and collects the module's declarations."""

    def __init__(self, image: ModuleImage):
        self.image = image
        self.path = image.path
        self.seen: set[object] = set()  # what was collected, for once each (a file may hold 100,000)

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
                sym = _text(call.args[0], self.path, "import_symbol's symbol",
                            'write import_symbol("symbol_name")')
                if ("import", sym) not in self.seen:
                    self.seen.add(("import", sym))
                    self.image.imports.append(sym)
            elif call.args and isinstance(call.args[0], ast.Name):
                self.marker(name, call.args[0].id)

    def constant(self, value: object) -> None:
        """The fuzzer's dictionary: integers of up to 64 bits and short strings, each once."""
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 64:
            if value not in self.seen:
                self.seen.add(value)
                self.image.ints.append(value)
        elif isinstance(value, str) and 0 < len(value) <= 64 and value not in self.seen:
            self.seen.add(value)
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
        elif name in ("module_driver", "module_platform_driver", "module_pci_driver", "module_usb_driver"):
            img.has_init = img.has_exit = True

    def assignment(self, name: str, value: ast.expr) -> None:
        img = self.image
        if name in TEXT_FIELDS:
            text = _text(value, self.path, name, f'write {name} = "..." (a string literal)')
            if name == "MODULE_SOFTDEP":
                self.softdep(text, value.lineno)
            else:
                setattr(img, TEXT_FIELDS[name], text)
        elif name == "MODULE_DEVICE_TABLE":
            if not isinstance(value, (ast.List, ast.Tuple)):
                raise ModuleFileError(self.path, value.lineno, "MODULE_DEVICE_TABLE must be a list",
                                      "write MODULE_DEVICE_TABLE = [pci_device_id(0x8086, 0x1234)]")
            img.device_table = [self.device_id(e) for e in value.elts]
        elif name == "MODULE_ALIAS":
            fix = 'write MODULE_ALIAS = "platform:name" or a list of such strings'
            items = value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value]
            img.aliases = [_text(e, self.path, "MODULE_ALIAS", fix) for e in items]
            if not all(a and not any(c.isspace() for c in a) for a in img.aliases):
                raise ModuleFileError(self.path, value.lineno, "MODULE_ALIAS is an empty name or has a space",
                                      fix)

    def softdep(self, text: str, lineno: int) -> None:
        slot = None
        for word in text.split():
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
        fix = "use pci_device_id(v, d), usb_device_id(v, p) or platform_device_id(name)"
        if call is None or name not in ID_MAKERS:
            raise ModuleFileError(self.path, node.lineno, f"'{_shown(node)}' is not a device id", fix)
        args = [_const(a, self.path) for a in call.args]
        kwargs = {k.arg: _const(k.value, self.path) for k in call.keywords if k.arg}
        try:
            dev = ID_MAKERS[name](*args, **kwargs)
        except TypeError as err:
            raise ModuleFileError(self.path, node.lineno, f"bad device id: {err}", fix) from None
        if dev.bus == "platform":
            good = isinstance(dev.name, str) and dev.name != ""
        else:
            good = all(type(n) is int and 0 <= n <= 0xFFFF for n in (dev.vendor, dev.device))
        if not good:
            what = "a name" if dev.bus == "platform" else "two integers from 0 to 0xffff"
            raise ModuleFileError(self.path, node.lineno,
                                  f"bad device id '{_shown(node)}': {name} takes {what}", fix)
        return dev

    def param(self, node: ast.Call) -> None:
        fix = 'write module_param("name", int, 0, desc="what it sets")'
        args = list(node.args)
        kw = {k.arg: k.value for k in node.keywords}
        for i, key in enumerate(("name", "type", "default", "desc")):
            if i < len(args):
                kw.setdefault(key, args[i])
        if "name" not in kw or "type" not in kw:
            raise ModuleFileError(self.path, node.lineno, "module_param needs a name and a type", fix)
        pname = _text(kw["name"], self.path, "module_param's name", fix)
        if not PARAM_NAME.match(pname):
            raise ModuleFileError(self.path, node.lineno, f"module_param '{pname}': a name is letters, "
                                  "digits and _, not starting with a digit", fix)
        ptype = kw["type"].id if isinstance(kw["type"], ast.Name) else None
        if ptype not in PARAM_TYPES:
            raise ModuleFileError(self.path, node.lineno, f"module_param '{pname}': type must be "
                                  "int, bool or str, or uint, ulong, ushort, byte or charp", fix)
        default = _const(kw["default"], self.path) if "default" in kw else PARAM_TYPES[ptype]()
        if type(default) is not PARAM_TYPES[ptype]:
            raise ModuleFileError(self.path, node.lineno,
                                  f"module_param '{pname}': default {_shown(kw['default'])} is not {ptype}",
                                  fix)
        if type(default) is int and not -2**63 <= default < 2**64:
            raise ModuleFileError(self.path, node.lineno,
                                  f"module_param '{pname}': default {_shown(kw['default'])} is over 64 bits",
                                  fix)
        if not in_range(ptype, default):
            raise ModuleFileError(self.path, node.lineno,
                                  f"module_param '{pname}': default {_shown(kw['default'])} is not a {ptype}",
                                  fix)
        if pname in self.image.params:
            raise ModuleFileError(self.path, node.lineno, f"module_param '{pname}' declared twice",
                                  "give each parameter one module_param call")
        desc = _text(kw["desc"], self.path, f"module_param '{pname}': desc", fix) if "desc" in kw else ""
        self.image.params[pname] = ParamInfo(pname, ptype, default, desc, node.lineno)
