"""Nodes under /dev and /proc, open files, and the file-operation calls into drivers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from .errno import EACCES, EBADF, EINVAL, EIO, ENODEV, ENOENT, ENOTTY
from .refcount import module_put, try_module_get
from .subsystem import Leftover

if TYPE_CHECKING:
    from .core import Kernel
    from .frames import Site
    from .kmutex import KernelMutex
    from .module import Module
    from .procfs import ProcEntry


# include/uapi/asm-generic/fcntl.h, and the f_mode bits of include/linux/fs.h
O_ACCMODE = 0o3
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_CREAT = 0o100
O_EXCL = 0o200
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_NONBLOCK = 0o4000
OPEN_FLAGS = {"O_RDONLY": O_RDONLY, "O_WRONLY": O_WRONLY, "O_RDWR": O_RDWR, "O_CREAT": O_CREAT,
              "O_EXCL": O_EXCL, "O_TRUNC": O_TRUNC, "O_APPEND": O_APPEND, "O_NONBLOCK": O_NONBLOCK}
FMODE_READ = 0x1
FMODE_WRITE = 0x2


def f_mode(flags: int) -> int:
    """The FMODE_ bits an open's access mode gives (fs/open.c: OPEN_FMODE)."""
    access = flags & O_ACCMODE
    return (FMODE_READ if access in (O_RDONLY, O_RDWR) else 0) | \
        (FMODE_WRITE if access in (O_WRONLY, O_RDWR) else 0)


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
    open_lock: KernelMutex | None = None  # held across open(), as usb_open holds minor_rwsem


@dataclass(eq=False)
class Inode:
    i_rdev: str
    i_private: Any = None  # the registration's object, for module code to read back
    i_minor: int = 0  # iminor(): the registration's minor (a misc device's, a usb class device's)


@dataclass(eq=False)
class File:
    node: Node
    fops: FileOperations
    f_inode: Inode
    private_data: Any = None  # the driver's: whatever its open() puts there
    f_pos: int = 0
    f_flags: int = O_RDWR  # the open's flags: O_NONBLOCK, O_EXCL... for the driver to read
    f_mode: int = FMODE_READ | FMODE_WRITE
    pinned: Module | None = None  # the module its open pinned (never one of a /proc file)
    closed: bool = False
    users: int = 0  # calls in flight on it (fdget): release waits for the last (fput)
    extra: dict[str, Any] = field(default_factory=dict)  # unused by the kernel: module code's own values

    def __repr__(self) -> str:
        return f"<file {self.node.path}>"


def proc_entry(node: Node) -> ProcEntry | None:
    """The proc_dir_entry behind a /proc node (procfs.py), None for any other node."""
    return cast("ProcEntry", node.obj) if node.kind == "proc" else None


class Fs:
    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.nodes: dict[str, Node] = {}
        self.files: list[File] = []

    def add(self, node: Node) -> bool:
        if node.path in self.nodes:
            return False
        if self.kernel.kcsan is not None:  # publishing a node orders what came before its open
            self.kernel.kcsan.release(node)
        self.nodes[node.path] = node
        return True

    def remove(self, path: str) -> Node | None:
        node = self.nodes.pop(path, None)
        if node is not None:
            node.removed = True
        return node

    def open(self, path: str, flags: int = O_RDWR) -> File | int:
        kernel = self.kernel
        node = self.nodes.get(path)
        if node is None:
            return -ENOENT
        if kernel.kcsan is not None:  # the lookup (cdev_lock, kobj_map's mutex) after the add
            kernel.kcsan.acquire(node)
        if kernel.uid != 0 and not node.mode & 0o006:
            return -EACCES
        proc = proc_entry(node)
        owner = None if proc is not None else node.fops.owner  # proc_ops has no owner: no pin
        inode = Inode(path, node.obj, getattr(node.obj, "minor", 0))
        file = File(node, node.fops, inode, pinned=owner, f_flags=int(flags), f_mode=f_mode(int(flags)))
        lock = kernel.misc_mtx if node.kind == "misc" else node.open_lock
        if lock is not None:  # misc_open (usb_open): under misc_mtx (minor_rwsem), still registered, fops_get
            with lock.held(kernel):
                if node.removed or not try_module_get(owner):
                    return -ENODEV
                ret = self._open(file)
        else:
            if not try_module_get(owner):
                return -ENODEV
            ret = self._open(file)
        if isinstance(ret, int) and ret < 0:
            module_put(owner)
            return ret
        if proc is not None and node.fops.release:
            proc.openers.append(file)  # proc_reg_open: its release is owed even at removal
        self.files.append(file)
        return file

    def _open(self, file: File) -> object:
        node = file.node
        if node.kind == "misc":
            file.private_data = node.obj
        if node.fops.open:
            return self._call(file, node.fops.open, file.f_inode, file)
        return 0

    def _call(self, file: File, fn: Callable[..., object], *args: object, gone: int = -EIO) -> object:
        """Calls a file operation, holding a reference to the file (fdget): a close
        meanwhile leaves the release to the call's end (fput). Through a /proc file it
        is a call in flight that removal waits for, and once the entry is run down it
        is `gone` (proc_reg_read: -EIO; proc_reg_unlocked_ioctl: -ENOTTY)."""
        file.users += 1
        try:
            ret = self._call_in(file, fn, args, gone)
        finally:
            file.users -= 1
        if file.closed and not file.users:  # not when a fatal finding unwinds the call
            self._fput(file)
        return ret

    def _call_in(self, file: File, fn: Callable[..., object], args: tuple[object, ...], gone: int) -> object:
        proc = proc_entry(file.node)
        if proc is None:
            return self.kernel.call(fn, *args)
        kernel = self.kernel
        task = kernel.task
        if not proc.use(task):
            return gone
        try:
            return kernel.call(fn, *args)
        finally:
            proc.unuse(task)
            if kernel.kcsan is not None:  # unuse_pde: a call happens before the rundown's end
                kernel.kcsan.release(proc)

    def read(self, file: File, count: int) -> object:
        if file.closed or not file.f_mode & FMODE_READ:  # vfs_read
            return -EBADF
        if file.fops.read is None:
            return -EIO if file.node.kind == "proc" else -EINVAL  # pde_read: -EIO
        return self._call(file, file.fops.read, file, count)

    def write(self, file: File, data: bytes) -> object:
        if file.closed or not file.f_mode & FMODE_WRITE:  # vfs_write
            return -EBADF
        if file.fops.write is None:
            return -EIO if file.node.kind == "proc" else -EINVAL  # pde_write: -EIO
        return self._call(file, file.fops.write, file, data)

    def ioctl(self, file: File, cmd: int, arg: int) -> object:
        if file.closed:
            return -EBADF
        if file.fops.unlocked_ioctl is None:
            return -ENOTTY
        return self._call(file, file.fops.unlocked_ioctl, file, cmd, arg, gone=-ENOTTY)

    def close(self, file: File) -> int:
        """close(2): the descriptor goes at once; the file is released when the last
        call in flight on it returns (fs/file_table.c `fput`), here or there."""
        if file.closed:
            return -EBADF
        file.closed = True
        self.files.remove(file)
        if not file.users:
            self._fput(file)
        return 0

    def _fput(self, file: File) -> None:
        """`__fput`: the driver's release, then the module reference goes."""
        proc = proc_entry(file.node)
        if proc is not None:  # proc_reg_release: close_pdeo, unless removal released it
            proc.close(self.kernel, file)
        elif file.fops.release:
            self.kernel.call(file.fops.release, file.f_inode, file)
        file.private_data = None  # the struct file is freed: what only it held is unreferenced
        file.extra.clear()
        module_put(file.pinned)

    def owned_by(self, mod: Module) -> list[Node]:
        return [n for n in self.nodes.values() if n.owner is mod]

    def leftovers(self, mod: Module) -> list[Leftover]:
        return [Leftover(n.what or n.kind, n.path.rsplit("/", 1)[1], n.site) for n in self.owned_by(mod)]

    def owners(self) -> Iterable[Module | None]:
        return (n.owner for n in self.nodes.values())
