"""Nodes under /dev and /proc, open files, and the file-operation calls into drivers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errno import EACCES, EBADF, EINVAL, EIO, ENODEV, ENOENT, ENOTTY
from .refcount import module_put, try_module_get
from .subsystem import Leftover

if TYPE_CHECKING:
    from .core import Kernel
    from .frames import Site
    from .module import Module


@dataclass(eq=False)
class FileOperations:
    """A driver's file callbacks. Each returns what module-api.md says (0, bytes, a count
    or -errno), but it is module code: the kernel checks what comes back."""

    owner: Module | None = None
    open: Callable[[Inode, File], object] | None = None
    read: Callable[[File, int], object] | None = None
    write: Callable[[File, bytes], object] | None = None
    unlocked_ioctl: Callable[[File, int, int], object] | None = None
    release: Callable[[Inode, File], object] | None = None
    llseek: Callable[[File, int, int], object] | None = None  # (file, offset, whence)


@dataclass(eq=False)
class Node:
    """A /dev or /proc entry: what `open` finds by path.

    `what` is its name in a dangling-registration title, given by the file that
    registers it, so a new kind of node touches that file only."""

    path: str
    kind: str
    fops: FileOperations
    mode: int = 0o600
    owner: Module | None = None
    obj: object = None  # what registered it (a major, a MiscDevice, a ProcEntry)
    site: Site | None = None
    removed: bool = False
    what: str = ""


@dataclass(eq=False)
class Inode:
    i_rdev: str
    i_private: Any = None  # the registration's object, for module code to read back


@dataclass(eq=False)
class File:
    node: Node
    fops: FileOperations
    f_inode: Inode
    private_data: Any = None  # the driver's: whatever its open() puts there
    f_pos: int = 0
    f_flags: int = 0
    pinned: Module | None = None
    closed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # unused by the kernel: module code's own values

    def __repr__(self) -> str:
        return f"<file {self.node.path}>"


class Fs:
    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.nodes: dict[str, Node] = {}
        self.files: list[File] = []

    def add(self, node: Node) -> bool:
        if node.path in self.nodes:
            return False
        self.nodes[node.path] = node
        return True

    def remove(self, path: str) -> Node | None:
        node = self.nodes.pop(path, None)
        if node is not None:
            node.removed = True
        return node

    def open(self, path: str) -> File | int:
        kernel = self.kernel
        node = self.nodes.get(path)
        if node is None:
            return -ENOENT
        if kernel.uid != 0 and not node.mode & 0o006:
            return -EACCES
        owner = node.fops.owner
        if not try_module_get(owner):
            return -ENODEV
        inode = Inode(path, node.obj)
        file = File(node, node.fops, inode, pinned=owner)
        if node.kind == "misc":
            file.private_data = node.obj
        if node.fops.open:
            ret = kernel.call(node.fops.open, inode, file)
            if isinstance(ret, int) and ret < 0:
                module_put(owner)
                return ret
        self.files.append(file)
        return file

    def _guard(self, file: File) -> int:
        if file.closed:
            return -EBADF
        if file.node.kind == "proc" and file.node.removed:
            return -EIO  # procfs runs file operations down when the entry goes
        return 0

    def read(self, file: File, count: int) -> object:
        err = self._guard(file)
        if err or file.fops.read is None:
            return err or -EINVAL
        return self.kernel.call(file.fops.read, file, count)

    def write(self, file: File, data: bytes) -> object:
        err = self._guard(file)
        if err or file.fops.write is None:
            return err or -EINVAL
        return self.kernel.call(file.fops.write, file, data)

    def ioctl(self, file: File, cmd: int, arg: int) -> object:
        err = self._guard(file)
        if err or file.fops.unlocked_ioctl is None:
            return err or -ENOTTY
        return self.kernel.call(file.fops.unlocked_ioctl, file, cmd, arg)

    def close(self, file: File) -> int:
        if file.closed:
            return -EBADF
        file.closed = True
        self.files.remove(file)
        if file.fops.release and not (file.node.kind == "proc" and file.node.removed):
            self.kernel.call(file.fops.release, file.f_inode, file)
        file.private_data = None  # the struct file is freed: what only it held is unreferenced
        file.extra.clear()
        module_put(file.pinned)
        return 0

    def owned_by(self, mod: Module) -> list[Node]:
        return [n for n in self.nodes.values() if n.owner is mod]

    def leftovers(self, mod: Module) -> list[Leftover]:
        return [Leftover(n.what or n.kind, n.path.rsplit("/", 1)[1], n.site) for n in self.owned_by(mod)]

    def owners(self) -> Iterable[Module | None]:
        return (n.owner for n in self.nodes.values())
