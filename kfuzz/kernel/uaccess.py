"""User memory: the program's address space, and the calls that copy across it.

A user pointer is an integer, as `char __user *` is an address: a read's buffer, a
write's data and an ioctl's buffer argument are mapped at addresses from USER_BASE
(syzkaller's data area), each followed by an unmapped gap, so a pointer outside every
mapping faults and the copy returns the bytes it did not copy (-EFAULT for the driver
to return). Pointer arithmetic is integer arithmetic: `buf + n`.

The copies are include/linux/uaccess.h's: `might_fault()` first (a copy may sleep on a
page fault, so it is a scheduling point, and in atomic context it is
sleeping-while-atomic), then the kernel side checked as `instrument_copy_to_user`
makes KASAN check it: reading past a kmalloc'd object is slab-out-of-bounds.

A read's or write's buffer is the `count` bytes its caller vouched for. Past them
lies the caller's other memory, which a copy can reach without a fault: a driver
copying past `count` corrupts it, and through kernel_read()/splice the "user" buffer
is a kernel one, where KASAN reports it (CVE-2018-16276, yurex_read). kfuzz reports
it directly, as `out-of-bounds`, "BUG: user-buffer-overflow in FN" (its own check:
Linux has no detector for user memory). An ioctl buffer has no such room: the
program wrote exactly its bytes, and past them is a fault, as at the end of a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import titles
from .current import current
from .errno import EFAULT, EINVAL, ENOMEM
from .mm import Buffer

if TYPE_CHECKING:
    from .core import Kernel

USER_BASE = 0x20000000
PAGE_SIZE = 4096
# the caller's memory past a read's or write's count: reachable without a fault
SLACK = 1 << 20
MAX_ERRNO = 4095


@dataclass(eq=False)
class Mapping:
    """One user buffer of `size` bytes at `start`, the first of them held in `data`
    (a huge read's buffer is not all held: the rest reads as zeros). The `slack` bytes
    past it are the caller's other memory: a copy there is an overflow, not a fault."""

    start: int
    size: int
    data: bytearray
    what: str
    slack: int = 0
    task: object = None  # the task whose system call passed it (what `poke tN` changes)

    @property
    def end(self) -> int:
        return self.start + self.size


class UserMemory:
    """The program's address space: the buffers its operations pass in."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.maps: list[Mapping] = []
        self.next = USER_BASE

    def map(self, data: bytes, what: str, slack: int = 0, size: int | None = None) -> Mapping:
        size = len(data) if size is None else size
        m = Mapping(self.next, size, bytearray(data), what, slack, self.kernel.task)
        # the next mapping starts a page past this one's slack: a gap that faults
        self.next += (max(size, 1) + slack + 2 * PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE
        self.maps.append(m)
        return m

    def unmap(self, m: Mapping) -> None:
        if m in self.maps:
            self.maps.remove(m)

    def poke(self, task: object, data: bytes) -> int:
        """Another thread of the program writes over the start of the buffer that `task`'s
        system call passed (what a double fetch trusts): 0, or -EFAULT when it has none."""
        m = next((m for m in self.maps if m.task is task), None)
        if m is None:
            return -EFAULT
        n = min(len(data), len(m.data))
        m.data[:n] = data[:n]
        return 0

    def _find(self, addr: int) -> Mapping | None:
        for m in self.maps:
            if m.start <= addr < m.end + m.slack:
                return m
        return None

    def access(self, addr: object, n: int, write: bytes | None = None) -> bytes:
        """The bytes read at `addr` (or `write` written there), as far as they go before a
        fault; a copy into the slack past a buffer is reported as an overflow."""
        if not isinstance(addr, int) or isinstance(addr, bool) or n <= 0:
            return b""
        m = self._find(addr)
        if m is None:
            return b""
        off = addr - m.start
        stop = min(addr + n, m.end + m.slack) - m.start
        if stop > m.size:
            self._overflow(m, off, stop, "writes" if write is not None else "reads")
            stop = m.size
        done = max(stop - off, 0)
        if write is not None:
            held = max(min(stop, len(m.data)) - off, 0)
            m.data[off:off + held] = write[:held]
            return write[:done]
        data = bytes(m.data[off:stop])
        return data + bytes(done - len(data))

    def _overflow(self, m: Mapping, off: int, stop: int, verb: str) -> None:
        self.kernel.report(titles.USER_BUFFER_OVERFLOW,
                           f"BUG: user-buffer-overflow: the driver {verb} bytes {off}..{stop} of the "
                           f"{m.size}-byte {m.what} (the count its caller gave)")


def _might_fault(call: str) -> Kernel:
    kernel = current()
    kernel.locking.might_sleep(call)  # include/linux/kernel.h might_fault
    return kernel


def _kernel_bytes(src: object, n: int, call: str) -> bytes:
    """The `n` bytes of kernel memory a copy reads: KASAN checks a Buffer's range."""
    if isinstance(src, Buffer):
        return src[0:n]
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if n > len(data):  # in C a local array: KASAN's stack-out-of-bounds, the same kind
            current().report(titles.OUT_OF_BOUNDS, f"KASAN: out-of-bounds: {call} reads {n} bytes "
                             f"of a {len(data)}-byte object")
        return data[:n]
    if isinstance(src, str):
        raise TypeError(f"{call}: kernel data must be bytes or a kmalloc'd buffer, not str "
                        "(encode it: s.encode())")
    raise TypeError(f"{call}: kernel data must be bytes or a kmalloc'd buffer, not {type(src).__name__}")


def _store(dst: object, data: bytes, n: int, call: str) -> None:
    """Writes a copy's bytes into kernel memory (zero-filled to `n`, as a faulting
    copy_from_user leaves the rest of its destination)."""
    data = data + bytes(n - len(data))
    if isinstance(dst, Buffer):
        dst[0:n] = data
    elif isinstance(dst, bytearray):
        if n > len(dst):
            current().report(titles.OUT_OF_BOUNDS, f"KASAN: out-of-bounds: {call} writes {n} bytes "
                             f"into a {len(dst)}-byte object")
        dst[0:n] = data
    else:
        raise TypeError(f"{call}: the kernel destination must be a kmalloc'd buffer or a bytearray, "
                        f"not {type(dst).__name__}")


def _count(n: object, call: str) -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"{call}: the length must be an int, not {type(n).__name__}")
    if n < 0:  # an unsigned long: a negative count is huge, and the copy faults
        return 1 << 63
    return n


def copy_to_user(to: int, frm: object, n: int) -> int:
    """Copies `n` bytes of kernel memory to user address `to`; the bytes not copied."""
    kernel = _might_fault("copy_to_user")
    n = _count(n, "copy_to_user")
    if n == 0:
        return 0
    data = _kernel_bytes(frm, min(n, 1 << 31), "copy_to_user")
    done = kernel.uaccess.access(to, n, write=data)
    return n - len(done)


def copy_from_user(to: object, frm: int, n: int) -> int:
    """Copies `n` bytes from user address `frm` into kernel memory; the bytes not copied
    (the rest of the destination zeroed, as lib/usercopy.c `_copy_from_user` does)."""
    kernel = _might_fault("copy_from_user")
    n = _count(n, "copy_from_user")
    if n == 0:
        return 0
    data = kernel.uaccess.access(frm, n)
    _store(to, data, min(n, 1 << 31), "copy_from_user")
    return n - len(data)


def clear_user(to: int, n: int) -> int:
    """Zeroes `n` user bytes; the bytes not cleared."""
    kernel = _might_fault("clear_user")
    n = _count(n, "clear_user")
    return n - len(kernel.uaccess.access(to, n, write=bytes(min(n, 1 << 31))))


def get_user(x: list[Any], ptr: int, size: int = 4, signed: bool = True) -> int:
    """`get_user(x, ptr)`: x is a one-item list (`*p` is `p[0]`) that gets the
    `size`-byte integer at `ptr` (C's type gives the size: int by default); 0 or
    -EFAULT, with x[0] = 0 on a fault as Linux zeroes it."""
    kernel = _might_fault("get_user")
    data = kernel.uaccess.access(ptr, size)
    if len(data) < size:
        x[0] = 0
        return -EFAULT
    x[0] = int.from_bytes(data, "little", signed=signed)
    return 0


def put_user(x: int, ptr: int, size: int = 4) -> int:
    """Stores `x` as a `size`-byte integer at `ptr`: 0 or -EFAULT."""
    kernel = _might_fault("put_user")
    data = (int(x) & ((1 << 8 * size) - 1)).to_bytes(size, "little")
    return 0 if len(kernel.uaccess.access(ptr, size, write=data)) == size else -EFAULT


def access_ok(ptr: int, size: int) -> bool:
    """Whether the range is below the user address limit (it may still fault)."""
    return isinstance(ptr, int) and 0 <= ptr and ptr + max(size, 0) <= 1 << 47


def IS_ERR(x: object) -> bool:
    """An ERR_PTR: a negative errno where a pointer was expected."""
    return isinstance(x, int) and not isinstance(x, bool) and -MAX_ERRNO <= x < 0


def IS_ERR_OR_NULL(x: object) -> bool:
    return x is None or x == 0 or IS_ERR(x)


def PTR_ERR(x: object) -> int:
    return int(x) if isinstance(x, int) else 0


def ERR_PTR(err: int) -> int:
    return err


def memdup_user(src: int, n: int) -> Buffer | int:
    """A kmalloc'd copy of `n` user bytes: the Buffer, or ERR_PTR(-ENOMEM / -EFAULT)."""
    kernel = _might_fault("memdup_user")
    n = _count(n, "memdup_user")
    buf = kernel.mm.alloc(n, 0xCC0, "memdup_user")  # GFP_USER
    if buf is None:
        return -ENOMEM
    data = kernel.uaccess.access(src, n)
    if len(data) < n:
        kernel.mm.free(buf)
        return -EFAULT
    buf[0:n] = data
    return buf


def strncpy_from_user(dst: object, src: int, count: int) -> int:
    """Copies a NUL-terminated user string of at most `count` bytes: its length, or
    `count` when no NUL came (dst then unterminated), or -EFAULT."""
    kernel = _might_fault("strncpy_from_user")
    count = _count(count, "strncpy_from_user")
    data = kernel.uaccess.access(src, count)
    nul = data.find(0)
    if nul < 0 and len(data) < count:
        return -EFAULT
    got = data[:nul + 1] if nul >= 0 else data
    _store(dst, got, len(got), "strncpy_from_user")
    return nul if nul >= 0 else count


def _span(ppos: Any, available: int, count: int) -> tuple[int, int]:
    """Where a simple_* copy starts and how many bytes it moves (0 at the end, or
    -EINVAL for a negative position, as the count)."""
    pos = ppos[0]
    if pos < 0:
        return pos, -EINVAL
    if pos >= available or not count:
        return pos, 0
    return pos, min(available - pos, count)


def simple_read_from_buffer(to: int, count: int, ppos: Any, frm: object, available: int) -> int:
    """fs/libfs.c: copies what is left of `frm` past `*ppos`, at most `count`, and
    moves `*ppos` (`ppos[0]`); the bytes copied, 0 at the end, or -EFAULT/-EINVAL."""
    span = _span(ppos, available, count)
    if span[1] <= 0:
        return span[1]
    pos, n = span
    data = _kernel_bytes(frm, pos + n, "simple_read_from_buffer")[pos:]
    ret = copy_to_user(to, data, n)
    if ret == n:
        return -EFAULT
    n -= ret
    ppos[0] = pos + n
    return n


def simple_write_to_buffer(to: object, available: int, ppos: Any, frm: int, count: int) -> int:
    """fs/libfs.c: copies at most `count` user bytes into `to` at `*ppos`, up to
    `available`; the bytes copied, 0 at the end, or -EFAULT/-EINVAL."""
    span = _span(ppos, available, count)
    if span[1] <= 0:
        return span[1]
    pos, n = span
    kernel = _might_fault("simple_write_to_buffer")
    data = kernel.uaccess.access(frm, n)
    if not data:
        return -EFAULT
    if isinstance(to, Buffer):
        to[pos:pos + len(data)] = data
    elif isinstance(to, bytearray):
        to[pos:pos + len(data)] = data
    else:
        raise TypeError(f"simple_write_to_buffer: the destination must be a kmalloc'd buffer or a "
                        f"bytearray, not {type(to).__name__}")
    ppos[0] = pos + len(data)
    return len(data)


class Loff:
    """`loff_t *ppos` of a read or write: `*ppos` is `ppos[0]`. It starts at the
    file's position, which takes its value when the call succeeds (fs/read_write.c
    ksys_read: a copy of f_pos, written back if ret >= 0)."""

    __slots__ = ("value",)

    def __init__(self, value: int):
        self.value = value

    def __getitem__(self, i: int) -> int:
        if i != 0:
            raise IndexError("ppos is one loff_t: ppos[0]")
        return self.value

    def __setitem__(self, i: int, value: int) -> None:
        if i != 0:
            raise IndexError("ppos is one loff_t: ppos[0]")
        if not isinstance(value, int):
            raise TypeError(f"*ppos is a loff_t: an int, not {type(value).__name__}")
        self.value = value

    def __repr__(self) -> str:
        return f"<loff_t {self.value}>"
