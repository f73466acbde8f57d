"""Module files shipped with a task by content and sha256, so a worker needs no checkout."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..kernel import ModuleIndex, read_image


@dataclass(frozen=True)
class ModuleFile:
    """One module file as the client has it: where, what, and its digest."""

    path: str  # the client's absolute path: reports name it, as a local run's do
    content: bytes
    sha256: str


def pack_file(path: Path) -> ModuleFile:
    """One file as the client has it (a module, or the kernel's keyring)."""
    content = path.read_bytes()
    return ModuleFile(str(path.resolve()), content, hashlib.sha256(content).hexdigest())


def pack(index: ModuleIndex) -> list[ModuleFile]:
    """Every module file of the index, read once on the client."""
    return [pack_file(image.path) for _, image in sorted(index.images.items())]


class CorruptModuleFile(Exception):
    """A module file whose content does not match its digest: never run it."""


def unpack(files: list[ModuleFile], folder: Path) -> tuple[ModuleIndex, dict[Path, Path]]:
    """Writes the files into `folder`; the worker's index of them, and each worker path's
    client path (for what reports show)."""
    shown: dict[Path, Path] = {}
    images = []
    for f in files:
        local = unpack_file(f, folder)
        images.append(read_image(local))
        shown[local] = Path(f.path)
    return ModuleIndex(images), shown


def unpack_file(f: ModuleFile, folder: Path) -> Path:
    """Writes one file into `folder`, its digest checked; its path there."""
    if hashlib.sha256(f.content).hexdigest() != f.sha256:
        raise CorruptModuleFile(f"{f.path}: content does not match its sha256 {f.sha256}")
    local = folder / Path(f.path).name
    local.write_bytes(f.content)
    return local
