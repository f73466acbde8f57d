"""Module files read without running them: modinfo, depmod and the compiled code.

Each file is read, checked and compiled once per process; every load reuses the
code object, so an insmod costs what running the module's body and init costs.
What the file declares is read by modinfo.MetadataReader.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType

from ..textfile import LINE_BREAK, Unreadable, check_file, decode, line_count, read_bytes
from .device import DeviceId
from .modinfo import MetadataReader, ModuleFileError
from .params import ParamInfo
from .signing import STATES, Signature, split_signature, verify

__all__ = ["GPL_COMPATIBLE", "ModuleFileError", "ModuleImage", "cached_image", "read_image"]

GPL_COMPATIBLE = ("GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                  "Dual MIT/GPL", "Dual MPL/GPL")


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
    aliases: list[str] = field(default_factory=list)  # MODULE_ALIAS: modules.alias patterns
    has_init: bool = False
    has_exit: bool = False
    ints: list[int] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    size: int = 0
    content: bytes = b""
    signature: Signature | None = None
    _verified: dict[tuple[bytes, ...], int] = field(default_factory=dict)

    @property
    def gpl_compatible(self) -> bool:
        return self.license in GPL_COMPATIBLE

    def signature_error(self, trusted: tuple[bytes, ...]) -> int:
        """0 or mod_verify_sig's -errno against the keyring `trusted`, once per keyring."""
        err = self._verified.get(trusted)
        if err is None:
            err = self._verified[trusted] = verify(self.content, self.signature, trusted)
        return err

    def signature_state(self, trusted: tuple[bytes, ...]) -> str:
        """signature_error in a word, for modinfo: 'valid', 'bad-signature'..."""
        return STATES[self.signature_error(trusted)]


def read_image(path: Path) -> ModuleImage:
    """Reads, checks and compiles one module file (modpost's checks included)."""
    path = Path(path)
    try:
        data = read_bytes(path, "module file")
        content, sig = split_signature(data)
        source = decode(content, "module file")
    except Unreadable as err:
        raise ModuleFileError.unreadable(path, err) from None
    if "\0" in source:  # Python refuses it, without saying where
        lineno = len(LINE_BREAK.findall(source, 0, source.index("\0"))) + 1
        raise ModuleFileError(path, lineno, "a NUL character", "remove it: a module file is text")
    image, tree = _compile(path, source, data, content, sig)
    try:
        MetadataReader(image).read(tree)
    except (RecursionError, MemoryError):
        raise ModuleFileError(path, 0, "metadata nested too deep to read",
                              "write module metadata as plain literals") from None
    if image.license is None:
        raise ModuleFileError(path, 1, "missing MODULE_LICENSE",
                              'add MODULE_LICENSE = "GPL" (or the licence the code is under)')
    return image


def _compile(path: Path, source: str, data: bytes, content: bytes,
             sig: Signature | None) -> tuple[ModuleImage, ast.Module]:
    lines = line_count(source)
    try:
        with warnings.catch_warnings():  # Python's lint ("is" with a literal...), printed for
            warnings.simplefilter("ignore")  # every file of a folder, would bury the one-line error
            tree = ast.parse(source, filename=str(path))
            code = compile(tree, str(path.resolve()), "exec")
    except SyntaxError as err:  # at the last line at most: Python puts an unclosed bracket after it
        raise ModuleFileError(path, min(err.lineno or 0, lines), f"syntax error: {err.msg}",
                              "the module file must be valid Python") from None
    except (RecursionError, MemoryError):  # Python's parser and compiler recurse on nesting
        raise ModuleFileError(path, 0, "an expression nested too deep for Python to compile",
                              "split the expression into simpler statements") from None
    image = ModuleImage(path.stem.replace("-", "_"), path, code, size=len(data),
                        content=content, signature=sig)
    return image, tree


_cache: dict[tuple[str, int, int], ModuleImage] = {}


def cached_image(path: Path) -> ModuleImage:
    """read_image, once per file version and process."""
    try:
        st = check_file(Path(path), "module file")
    except Unreadable as err:
        raise ModuleFileError.unreadable(Path(path), err) from None
    key = (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)
    image = _cache.get(key)
    if image is None:
        image = _cache[key] = read_image(path)
    return image
