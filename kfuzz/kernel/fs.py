"""Nodes under /dev and /proc, open files, and the file-operation calls into drivers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from .errno import EACCES, EBADF, EINVAL, EIO, ENODEV, ENOENT, ENOTTY, ESPIPE
from .poll import DEFAULT_POLLMASK, do_poll
from .refcount import module_put, try_module_get
from .seek import SEEK_MAX
from .subsystem import Leftover
from .uaccess import SLACK, Loff

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
FASYNC = 0o20000  # O_ASYNC: set by fcntl(F_SETFL), which calls the driver's fasync
OPEN_FLAGS = {"O_RDONLY": O_RDONLY, "O_WRONLY": O_WRONLY, "O_RDWR": O_RDWR, "O_CREAT": O_CREAT,
              "O_EXCL": O_EXCL, "O_TRUNC": O_TRUNC, "O_APPEND": O_APPEND, "O_NONBLOCK": O_NONBLOCK}
# fs/fcntl.c: the flags F_SETFL may change (of those kfuzz knows)
SETFL_FLAGS = {"O_APPEND": O_APPEND, "O_NONBLOCK": O_NONBLOCK, "FASYNC": FASYNC}
SETFL_MASK = O_APPEND | O_NONBLOCK | FASYNC
FMODE_READ = 0x1
FMODE_WRITE = 0x2
FMODE_LSEEK = 0x4
FMODE_PREAD = 0x8
FMODE_PWRITE = 0x10
MAX_RW_COUNT = 0x7FFFF000  # include/linux/fs.h: INT_MAX & PAGE_MASK, where rw_verify_area cuts a count


def f_mode(flags: int) -> int:
    """The FMODE_ bits an open's access mode gives (fs/open.c: OPEN_FMODE)."""
    access = flags & O_ACCMODE
    return (FMODE_READ if access in (O_RDONLY, O_RDWR) else 0) | \
        (FMODE_WRITE if access in (O_WRONLY, O_RDWR) else 0) | FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE


def takes_user_buffer(fn: Callable[..., object]) -> bool:
    """Whether a read or write callback has Linux's shape, `(file, buf, count, ppos)`,
    rather than kfuzz's first one, `read(file, count) -> bytes` / `write(file, data)`."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is None:
        return False
    return code.co_argcount - (1 if hasattr(fn, "__self__") else 0) >= 4


@dataclass(eq=False)
class FileOperations:
    """A driver's file callbacks, in Linux's shapes: `read(file, buf, count, ppos)` and
    `write(file, buf, count, ppos)` with `buf` a user address, or kfuzz's first shapes
    `read(file, count) -> bytes` and `write(file, data)`. Each returns what
    docs/module-api.md says (0, a count or -errno), but it is module code: the kernel
    checks what comes back."""

    owner: Module | None = None
    open: Callable[[Inode, File], object] | None = None
    read: Callable[..., object] | None = None
    write: Callable[..., object] | None = None
    unlocked_ioctl: Callable[[File, int, int], object] | None = None
    release: Callable[[Inode, File], object] | None = None
    llseek: Callable[[File, int, int], object] | None = None  # (file, offset, whence)
    flush: Callable[[File, object], object] | None = None  # (file, id): at every close
    poll: Callable[[File, object], object] | None = None  # (file, wait): the ready mask
    fasync: Callable[[int, File, int], object] | None = None  # (fd, file, on)
    compat_ioctl: Callable[[File, int, int], object] | None = None  # never called: no 32-bit tasks


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
    i_size: int = 0  # what default_llseek's SEEK_END counts from
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
    fd: int = -1  # its descriptor, which fasync is told
    released: bool = False  # __fput ran: the struct file is freed
    sigio: int = 0  # the SIGIOs kill_fasync sent through it
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
        self.opened = 0

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
        inode = Inode(path, node.obj, i_minor=getattr(node.obj, "minor", 0))
        file = File(node, node.fops, inode, pinned=owner, f_flags=int(flags), f_mode=f_mode(int(flags)),
                    fd=3 + self.opened)
        self.opened += 1
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
        return self._holding(file, lambda: self._call_in(file, fn, args, gone))

    def _holding(self, file: File, work: Callable[[], object]) -> object:
        """`work` with a reference to the file held: a close meanwhile leaves the release
        to its end (fput)."""
        file.users += 1
        try:
            ret = work()
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
        """read(2): the bytes read (what the call put in its buffer), or -errno."""
        if file.closed or not file.f_mode & FMODE_READ:  # vfs_read
            return -EBADF
        if file.fops.read is None:
            return -EIO if file.node.kind == "proc" else -EINVAL  # pde_read: -EIO
        if not takes_user_buffer(file.fops.read):
            return self._call(file, file.fops.read, file, count)
        count = min(count, MAX_RW_COUNT)  # rw_verify_area
        return self._rw(file, file.fops.read, bytes(min(count, SLACK)), count, "read buffer", True)

    def write(self, file: File, data: bytes) -> object:
        """write(2): the bytes written, or -errno."""
        if file.closed or not file.f_mode & FMODE_WRITE:  # vfs_write
            return -EBADF
        if file.fops.write is None:
            return -EIO if file.node.kind == "proc" else -EINVAL  # pde_write: -EIO
        if not takes_user_buffer(file.fops.write):
            return self._call(file, file.fops.write, file, data)
        return self._rw(file, file.fops.write, data, len(data), "write buffer", False)

    def _rw(self, file: File, fn: Callable[..., object], data: bytes, count: int, what: str,
            reading: bool) -> object:
        """A Linux-shaped read or write: the buffer mapped for the call, `*ppos` a copy of
        f_pos written back when the call succeeds (fs/read_write.c ksys_read/ksys_write)."""
        uaccess = self.kernel.uaccess
        m = uaccess.map(data, what, slack=SLACK, size=count)
        ppos = Loff(file.f_pos)
        try:
            ret = self._call(file, fn, file, m.start, count, ppos)
        finally:
            uaccess.unmap(m)
        if not isinstance(ret, int) or isinstance(ret, bool) or ret < 0:
            return ret
        file.f_pos = ppos.value
        return bytes(m.data[:min(ret, count)]) if reading else ret

    def ioctl(self, file: File, cmd: int, arg: int | bytes) -> object:
        """ioctl(2); a bytes argument is a user buffer the call gets the address of."""
        if file.closed:
            return -EBADF
        if file.fops.unlocked_ioctl is None:
            return -ENOTTY
        if not isinstance(arg, (bytes, bytearray)):
            return self._call(file, file.fops.unlocked_ioctl, file, cmd, arg, gone=-ENOTTY)
        uaccess = self.kernel.uaccess
        m = uaccess.map(bytes(arg), "ioctl argument")
        try:
            return self._call(file, file.fops.unlocked_ioctl, file, cmd, m.start, gone=-ENOTTY)
        finally:
            uaccess.unmap(m)

    def llseek(self, file: File, offset: int, whence: int) -> object:
        """lseek(2): ksys_lseek's -EINVAL for an unknown whence, vfs_llseek's -ESPIPE for
        a file without llseek (do_dentry_open clears FMODE_LSEEK) or made nonseekable."""
        if file.closed:
            return -EBADF
        if not 0 <= whence <= SEEK_MAX:
            return -EINVAL
        if file.fops.llseek is None or not file.f_mode & FMODE_LSEEK:
            return -ESPIPE
        return self._call(file, file.fops.llseek, file, offset, whence)

    def poll(self, file: File) -> object:
        """poll(2) of one file for input or output: the ready mask, waiting (interruptibly)
        on the queues the driver's poll named with poll_wait until one is ready."""
        if file.closed:
            return -EBADF
        poll = file.fops.poll
        if poll is None:
            return DEFAULT_POLLMASK  # vfs_poll
        # the poll holds the file across its sleeps, as __pollwait's get_file does: a
        # close meanwhile releases it when the poll returns, never under it
        return self._holding(file, lambda: do_poll(self.kernel, file,
                                                   lambda table: self._call(file, poll, file, table)))

    def setfl(self, file: File, flags: int) -> object:
        """fcntl(F_SETFL): the driver's fasync when FASYNC changes (fs/fcntl.c setfl)."""
        if file.closed:
            return -EBADF
        if (flags ^ file.f_flags) & FASYNC and file.fops.fasync is not None:
            ret = self._call(file, file.fops.fasync, file.fd, file, int(bool(flags & FASYNC)))
            if isinstance(ret, int) and ret < 0:
                return ret
        file.f_flags = (flags & SETFL_MASK) | (file.f_flags & ~SETFL_MASK)
        return 0

    def close(self, file: File) -> object:
        """close(2): the driver's flush (fs/open.c filp_flush, whose result close returns),
        then the descriptor goes; the file is released when the last call in flight on
        it returns (fs/file_table.c `fput`), here or there."""
        if file.closed:
            return -EBADF
        ret: object = 0
        if file.fops.flush is not None:
            ret = self._call(file, file.fops.flush, file, self.kernel.task)
        file.closed = True
        self.files.remove(file)
        if not file.users:
            self._fput(file)
        return ret

    def _fput(self, file: File) -> None:
        """`__fput`: fasync off if it was on, the driver's release, then the module
        reference goes."""
        if file.f_flags & FASYNC and file.fops.fasync is not None:
            self.kernel.call(file.fops.fasync, -1, file, 0)
        proc = proc_entry(file.node)
        if proc is not None:  # proc_reg_release: close_pdeo, unless removal released it
            proc.close(self.kernel, file)
        elif file.fops.release:
            self.kernel.call(file.fops.release, file.f_inode, file)
        file.private_data = None  # the struct file is freed: what only it held is unreferenced
        file.released = True
        file.extra.clear()
        module_put(file.pinned)

    def owned_by(self, mod: Module) -> list[Node]:
        return [n for n in self.nodes.values() if n.owner is mod]

    def leftovers(self, mod: Module) -> list[Leftover]:
        return [Leftover(n.what or n.kind, n.path.rsplit("/", 1)[1], n.site) for n in self.owned_by(mod)]

    def owners(self) -> Iterable[Module | None]:
        return (n.owner for n in self.nodes.values())
