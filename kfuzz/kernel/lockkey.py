"""Lock class keys: one per place locks are initialised and load of a module, named as Linux does.

A key is Linux's `struct lock_class_key`, static in the module's code: locks made at
one call site share it, and it goes when the module goes (lockdep_free_key_range).

Linux names a lock class after the expression its init macro was given:
`DEFINE_MUTEX(cfg_lock)` is `cfg_lock`, `spin_lock_init(&st->lock)` is `&st->lock`.
A kfuzz module writes `cfg_lock = mutex_init()` or `st.lock = spin_lock_init()`, so
the name is the assignment's target: a plain name at module level (static, as
DEFINE_MUTEX), `&name` in a function, `&st->lock` for a field, `&locks[i]` for a
lock kept in a list or dict. The source of each module file is parsed once.
"""

from __future__ import annotations

import ast
import itertools
import sys
from types import CodeType, FrameType
from typing import TYPE_CHECKING

from .frames import _frame_module
from .module import Module

if TYPE_CHECKING:
    from .lockdep import LockClass

# names keyed by the position of the call whose result is kept: (line, column)
Names = dict[tuple[int, int], str]
_names: dict[int, tuple[object, Names]] = {}  # id(image) -> (image, its names)
_CONTAINERS = (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.SetComp, ast.DictComp,
               ast.GeneratorExp)
_ADDERS = ("append", "insert", "add", "setdefault", "extend")


def _path(node: ast.expr) -> str | None:
    """A target as C would write it: `st.a.lock` is `st->a->lock`, `locks[0]` is `locks[0]`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _path(node.value)
        return f"{base}->{node.attr}" if base else None
    if isinstance(node, ast.Subscript):
        base = _path(node.value)
        return f"{base}[{ast.unparse(node.slice)}]" if base else None
    return None


class _Collector(ast.NodeVisitor):
    """Walks a module once: for each call whose result is stored, the name it is stored as."""

    def __init__(self) -> None:
        self.names: Names = {}
        self.depth = 0  # functions entered: 0 is the module body

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _visit_function

    def _store(self, target: ast.expr, value: ast.expr | None) -> None:
        if value is None:
            return
        if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
                and len(target.elts) == len(value.elts):
            for t, v in zip(target.elts, value.elts, strict=True):
                self._store(t, v)
            return
        path = _path(target)
        if path is None:
            return
        if isinstance(value, ast.Call):
            static = self.depth == 0 and isinstance(target, ast.Name)
            self.names.setdefault((value.lineno, value.col_offset), path if static else f"&{path}")
        elif isinstance(value, _CONTAINERS):
            self._elements(path, value)

    def _elements(self, path: str, value: ast.expr) -> None:
        """Calls kept as elements of a list, dict or comprehension stored at `path`."""
        for node in ast.walk(value):
            if isinstance(node, ast.Call) and not isinstance(node.func, ast.Attribute):
                self.names.setdefault((node.lineno, node.col_offset), f"&{path}[i]")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._store(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._store(node.target, node.value)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._store(node.target, node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func  # locks.append(spin_lock_init()): an element of locks
        if isinstance(func, ast.Attribute) and func.attr in _ADDERS:
            path = _path(func.value)
            if path is not None:
                for arg in node.args:
                    if isinstance(arg, ast.Call):
                        self.names.setdefault((arg.lineno, arg.col_offset), f"&{path}[i]")
                    elif isinstance(arg, _CONTAINERS):
                        self._elements(path, arg)
        self.generic_visit(node)


def source_names(source: str) -> Names:
    collector = _Collector()
    collector.visit(ast.parse(source))
    return collector.names


def _image_names(mod: Module) -> Names:
    image = mod.image
    entry = _names.get(id(image))
    if entry is None or entry[0] is not image:
        try:
            names = source_names(image.content.decode())
        except (SyntaxError, UnicodeDecodeError, ValueError):
            names = {}
        entry = _names[id(image)] = (image, names)
    return entry[1]


_positions: dict[tuple[CodeType, int], tuple[int, int]] = {}


def call_position(frame: FrameType) -> tuple[int, int]:
    """Where in its source `frame` is now: the (line, column) of the call it is making."""
    code, lasti = frame.f_code, frame.f_lasti
    found = _positions.get((code, lasti))
    if found is None:
        pos = next(itertools.islice(code.co_positions(), lasti // 2, None), None)
        if pos is None or pos[0] is None:
            found = (frame.f_lineno, -1)
        else:
            found = (pos[0], pos[2] if pos[2] is not None else -1)
        _positions[(code, lasti)] = found
    return found


def stored_name(mod: Module, line: int, col: int) -> str | None:
    """The name under which module code keeps what the call at (line, col) returns."""
    names = _image_names(mod)
    name = names.get((line, col))
    if name is None and col < 0:  # no column: the one call on that line, if it is alone
        found = [n for (ln, _), n in names.items() if ln == line]
        name = found[0] if len(found) == 1 else None
    return name


class ClassKey:
    """`struct lock_class_key`: one place locks are initialised, in one load of a module."""

    __slots__ = ("name", "module", "version", "classes")

    def __init__(self, name: str, module: str | None, version: int):
        self.name = name
        self.module = module
        self.version = version  # name_version: #2 for the second live key of one name
        self.classes: dict[int, LockClass] = {}  # by subclass


class ClassKeys:
    """The live keys of one kernel, by call site, and by name for their versions."""

    def __init__(self) -> None:
        self.keys: dict[tuple[object, ...], ClassKey] = {}  # by (module, file, line, column)
        self.by_name: dict[str, list[ClassKey]] = {}
        self.serial = 0  # for keys of their own (fresh)

    def at_caller(self, fmt: str = "{}", name: str | None = None) -> ClassKey:
        """The key of the innermost module code on the stack, at the call it is making."""
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and _frame_module(frame) is None:
            frame = frame.f_back
        mod = _frame_module(frame) if frame is not None else None
        if frame is None or mod is None:
            return self._key(("kernel", name or fmt), name or fmt.format("kernel"), None)
        line, col = call_position(frame)
        ident = (mod.name, frame.f_code.co_filename, line, col)
        key = self.keys.get(ident)
        if key is not None:
            return key
        if name is None:
            stored = stored_name(mod, line, col)
            name = fmt.format(stored if stored else f"{mod.name}.py:{line}")
        return self._key(ident, name, mod.name)

    def fresh(self, name: str) -> ClassKey:
        """A key of its own (a workqueue's, made with it) of the module code on the stack."""
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and _frame_module(frame) is None:
            frame = frame.f_back
        mod = _frame_module(frame) if frame is not None else None
        self.serial += 1
        return self._key(("dynamic", self.serial), name, mod.name if mod else None)

    def free(self, key: ClassKey) -> None:
        """One key leaves (lockdep_unregister_key), if it is still live."""
        for ident, live in self.keys.items():
            if live is key:
                del self.keys[ident]
                self.by_name[key.name].remove(key)
                return

    def _key(self, ident: tuple[object, ...], name: str, module: str | None) -> ClassKey:
        key = self.keys.get(ident)
        if key is None:
            same = self.by_name.setdefault(name, [])
            key = self.keys[ident] = ClassKey(name, module, max((k.version for k in same), default=0) + 1)
            same.append(key)
        return key

    def free_module(self, module: str) -> list[ClassKey]:
        """The module's keys leave; returns them."""
        gone = [ident for ident, key in self.keys.items() if key.module == module]
        keys = [self.keys.pop(ident) for ident in gone]
        for key in keys:
            self.by_name[key.name].remove(key)
        return keys

    def values(self) -> list[ClassKey]:
        return list(self.keys.values())
