"""Memory: kmalloc'd buffers with KASAN-style checks and kmemleak-style accounting."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, SupportsBytes, SupportsIndex, overload

from . import titles
from .current import current
from .debugobjects import check_no_obj_freed
from .device import Device
from .errno import ENOMEM  # noqa: F401  (re-exported for callers)
from .faults import should_fail
from .findings import Kind
from .frames import Site, format_stack, guilty_site, module_stack
from .kmemleak import Kmemleak
from .misuse import expect
from .module import Module
from .subsystem import Leftover

if TYPE_CHECKING:
    from .core import Kernel
    from .kcsan import Kcsan

GFP_KERNEL = 0xCC0
GFP_ATOMIC = 0x20
GFP_NOWAIT = 0x800
__GFP_ZERO = 0x100
GFP_DIRECT_RECLAIM = 0x400  # __GFP_DIRECT_RECLAIM: in GFP_KERNEL, not GFP_ATOMIC or GFP_NOWAIT
__GFP_NOWARN = 0x2000
# the largest kmalloc (mm/slab.h with SLUB: 1 << (MAX_PAGE_ORDER + PAGE_SHIFT)); a larger
# one reaches __alloc_pages with an order past MAX_PAGE_ORDER, which warns and fails
KMALLOC_MAX_SIZE = 4 << 20
# mm/util.c __kvmalloc_node: kmalloc, else vmalloc up to INT_MAX (never warns below it)
KVMALLOC_MAX_SIZE = (1 << 31) - 1
LIMITS = {KMALLOC_MAX_SIZE: "KMALLOC_MAX_SIZE", KVMALLOC_MAX_SIZE: "INT_MAX"}
_ZERO, _NOWARN = __GFP_ZERO, __GFP_NOWARN  # a class body would mangle the dunder names

# what KASAN says of a bad access: its title and the first words of its message
ACCESS_BUGS = {Kind.USE_AFTER_FREE: (titles.USE_AFTER_FREE, "use of freed memory"),
               Kind.OUT_OF_BOUNDS: (titles.OUT_OF_BOUNDS, "access out of bounds")}


class Buffer:
    """A kmalloc'd buffer. It never changes size and checks every access.

    Bytes are `buf[i]`, `buf[a:b]`; any other attribute is a struct field
    (`buf.count = 0`). Internal state lives in `_kb_` slots so that fields
    cannot collide with it. A field never set reads as 0 in zeroed memory
    (kzalloc); in kmalloc memory it is uninitialised, and reading it is an oops.
    """

    __slots__ = ("_kb_data", "_kb_fields", "_kb_mm", "_kb_owner", "_kb_alloc", "_kb_free",
                 "_kb_zero", "_kb_ref", "__weakref__")

    def __init__(self, mm: Memory, size: int, owner: Module | None, alloc: list[Site],
                 zero: bool = False):
        object.__setattr__(self, "_kb_data", bytearray(size))
        object.__setattr__(self, "_kb_fields", {})
        object.__setattr__(self, "_kb_mm", mm)
        object.__setattr__(self, "_kb_owner", owner)
        object.__setattr__(self, "_kb_alloc", alloc)
        object.__setattr__(self, "_kb_free", None)
        object.__setattr__(self, "_kb_zero", zero)
        object.__setattr__(self, "_kb_ref", weakref.ref(self))

    def __del__(self) -> None:
        """The last reference went: never freed, it is kmemleak's (reported later)."""
        try:
            if self._kb_free is None:
                self._kb_mm.lost(self)
        except AttributeError:  # half made (bytearray refused the size)
            pass

    # -- checks -------------------------------------------------------------
    def _kb_check(self, what: str) -> None:
        if self._kb_free is not None:
            self._kb_mm.report_access(self, Kind.USE_AFTER_FREE, what)

    def _kb_range(self, key: object, length: int | None = None) -> tuple[int, int]:
        """The bytes `key` names; module code may hand in anything, so it is checked here."""
        size = len(self._kb_data)
        if isinstance(key, slice):
            if key.step not in (None, 1):
                raise TypeError("kernel buffers take no slice step")
            start = 0 if key.start is None else key.start
            stop = size if key.stop is None else key.stop
            if length is not None:
                stop = max(stop, start + length)
            if start < 0 or stop > size or start > stop:
                self._kb_mm.report_access(self, Kind.OUT_OF_BOUNDS, f"bytes {start}..{stop} of {size}")
            return start, stop
        if not isinstance(key, int):
            raise TypeError(f"kernel buffer index must be int, not {type(key).__name__}")
        if not 0 <= key < size:
            self._kb_mm.report_access(self, Kind.OUT_OF_BOUNDS, f"byte {key} of {size}")
        return key, key + 1

    # -- byte access ----------------------------------------------------------
    def __bool__(self) -> bool:
        """A buffer is a non-NULL pointer: true even when empty or freed, as testing
        a pointer touches no memory (`if not buf` tests the allocation, not the size)."""
        return True

    def __len__(self) -> int:
        self._kb_check("size")
        return len(self._kb_data)

    @overload
    def __getitem__(self, key: int) -> int: ...

    @overload
    def __getitem__(self, key: slice) -> bytes: ...

    def __getitem__(self, key: int | slice) -> int | bytes:
        self._kb_check("read")
        start, stop = self._kb_range(key)
        kcsan = self._kb_mm.kcsan
        if kcsan is not None:
            kcsan.access_bytes(self, start, stop, False)
        if isinstance(key, slice):
            return bytes(self._kb_data[start:stop])
        return self._kb_data[start]

    @overload
    def __setitem__(self, key: int, value: SupportsIndex) -> None: ...

    @overload
    def __setitem__(self, key: slice, value: Iterable[SupportsIndex] | SupportsBytes) -> None: ...

    # the overloads say what fits; module code may store anything, and bytearray or
    # bytes() refuses what is not a byte or bytes (an oops of the module)
    def __setitem__(self, key: int | slice, value: Any) -> None:
        self._kb_check("write")
        kcsan = self._kb_mm.kcsan
        if isinstance(key, slice):
            data = bytes(value)
            start, _ = self._kb_range(key, len(data))
            if kcsan is not None:
                kcsan.access_bytes(self, start, start + len(data), True)
            self._kb_data[start:start + len(data)] = data
        else:
            self._kb_range(key)
            if kcsan is not None:
                kcsan.access_bytes(self, key, key + 1, True)
            self._kb_data[key] = value

    def __bytes__(self) -> bytes:
        self._kb_check("read")
        return bytes(self._kb_data)

    def __iter__(self) -> Iterator[int]:
        self._kb_check("read")
        return iter(bytes(self._kb_data))

    # -- struct fields: module code stores any value in one and reads it back --
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self._kb_check(f"field '{name}'")
        kcsan = self._kb_mm.kcsan
        if kcsan is not None:
            kcsan.access(self, name, False)
        try:
            return self._kb_fields[name]
        except KeyError:
            if self._kb_zero:
                return 0
            raise AttributeError(f"kernel buffer field '{name}' read before it was set: kmalloc "
                                 "memory is uninitialised (kzalloc's reads as 0)") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._kb_check(f"field '{name}'")
        mm = self._kb_mm
        if mm.kcsan is not None:
            mm.kcsan.access(self, name, True)
        self._kb_fields[name] = value
        if value.__class__ not in PLAIN:  # an object embedded here, for container_of
            mm.homes[id(value)] = self._kb_ref

    def __delattr__(self, name: str) -> None:
        self._kb_check(f"field '{name}'")
        self._kb_fields.pop(name, None)

    def __repr__(self) -> str:
        state = "freed" if self._kb_free is not None else "live"
        return f"<kbuf {len(self._kb_data)} bytes {state}>"


# field values no container_of starts from, not recorded: an int is no unique object, and a
# buffer in a field is a pointer to memory of its own, never a member embedded here
PLAIN = frozenset({int, bool, str, bytes, float, type(None), Buffer})


class Memory:
    """The slab: buffers not yet freed, held weakly (see kmemleak.py), and KASAN's reports."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.live: dict[int, weakref.ref[Buffer]] = {}
        # id of an object stored in a field -> the buffer it was stored in last, for
        # container_of (containerof.py): a hint it checks, as an id outlives its object
        self.homes: dict[int, weakref.ref[Buffer]] = {}
        self.kmemleak = Kmemleak(kernel)
        self.kcsan: Kcsan | None = None  # while a concurrent group runs (kcsan.py)

    def alloc(self, size: int, flags: int, what: str, limit: int = KMALLOC_MAX_SIZE) -> Buffer | None:
        kernel = self.kernel
        if flags & GFP_DIRECT_RECLAIM:
            kernel.locking.might_sleep()
        if not isinstance(size, int):
            raise TypeError(f"{what}: size must be an int, not {size!r}")
        if not 0 <= size <= limit:  # a negative size_t is past it too
            if not flags & _NOWARN:
                kernel.warn(titles.ALLOC_PAGES_TOO_LARGE,
                            f"WARNING: CPU: 0 PID: {kernel.task.pid} at mm/page_alloc.c __alloc_pages: "
                            f"{what}({size}) is past {LIMITS[limit]} ({limit})")
            return None
        if should_fail(what):
            return None
        buf = Buffer(self, size, kernel.current_module(), module_stack(),
                     what not in ("kmalloc", "kvmalloc") or bool(flags & _ZERO))
        self.live[id(buf)] = buf._kb_ref
        return buf

    def free(self, buf: object, by: Site | None = None) -> None:
        """kfree; `by` names the kernel's own freeing (devres) when no module code does it.

        NULL is None, or 0: a pointer field of kzalloc'd memory never set reads as 0, and
        mm/slub.c `kfree` returns at once for ZERO_OR_NULL_PTR, as a port freeing on its
        error path what it never allocated expects."""
        if buf is None or (type(buf) is int and buf == 0):
            return
        kernel = self.kernel
        if not isinstance(buf, Buffer):
            kernel.report(titles.INVALID_FREE,
                          f"kfree() of an object that kmalloc did not return: {buf!r}")
            return
        if buf._kb_free is not None:
            kernel.report(titles.DOUBLE_FREE,
                          f"double-free of {len(buf._kb_data)}-byte buffer",
                          alloc=format_stack(buf._kb_alloc), free=format_stack(buf._kb_free))
            return
        if buf._kb_fields:  # a timer or work embedded in it must not be active
            check_no_obj_freed(kernel, list(buf._kb_fields.values()), guilty_site(buf._kb_alloc))
        object.__setattr__(buf, "_kb_free", module_stack() or ([by] if by else []))
        self.live.pop(id(buf), None)

    def lost(self, buf: Buffer) -> None:
        """A buffer never freed lost its last reference (Buffer.__del__)."""
        self.live.pop(id(buf), None)
        self.kmemleak.lost(buf)

    def outlives(self, loaded: Iterable[Module]) -> bool:
        """Whether a buffer not freed outlived the module that allocated it: what holds it
        is another module, a kernel table, or a cycle of garbage only the collector sees."""
        modules = set(loaded)
        return any((buf := ref()) is not None and buf._kb_owner not in modules
                   for ref in list(self.live.values()))

    def scan(self) -> None:
        """kmemleak's scan at the end of an operation: every leak since the last one."""
        self.kmemleak.scan(list(self.live.values()))

    def report_access(self, buf: Buffer, kind: Kind, what: str) -> None:
        size = len(buf._kb_data)
        title, said = ACCESS_BUGS[kind]
        self.kernel.report(title, f"{said}: {what} of a {size}-byte buffer",
                           alloc=format_stack(buf._kb_alloc),
                           free=format_stack(buf._kb_free or []))

    def leftovers(self, mod: Module) -> list[Leftover]:
        """Nothing: a buffer is a leak when its last reference goes, not when its
        allocator unloads (another module may keep it; see kmemleak.py)."""
        return []

    def owners(self) -> Iterable[Module | None]:
        return ()


def kmalloc(size: int, flags: int = GFP_KERNEL) -> Buffer | None:
    return current().mm.alloc(size, flags, "kmalloc")


def kzalloc(size: int, flags: int = GFP_KERNEL) -> Buffer | None:
    return current().mm.alloc(size, flags, "kzalloc")


def kcalloc(n: int, size: int, flags: int = GFP_KERNEL) -> Buffer | None:
    """kmalloc_array, zeroed: a product past SIZE_MAX (or of a negative size_t) is NULL."""
    if isinstance(n, int) and isinstance(size, int) and not (0 <= n < 1 << 64 and 0 <= size < 1 << 64
                                                             and n * size < 1 << 64):
        return None
    return current().mm.alloc(n * size, flags, "kcalloc")


def kfree(buf: object) -> None:
    kernel = current()
    kernel.sched.point()  # a scheduling point: another task may use the buffer first
    kernel.mm.free(buf)


@dataclass
class DevmRelease:
    """A devm_kzalloc buffer's devres entry: freed at unbind, or by devm_kfree."""

    kernel: Kernel
    dev: Device
    buf: Buffer

    def __call__(self) -> None:  # the free site names the allocation the buffer already records
        site = guilty_site(self.buf._kb_alloc)
        by = Site(site.module if site else "?", f"devres release of {self.dev.name} (devm_kzalloc in "
                  f"{site.function if site else '?'})", "<kernel>", 0)
        self.kernel.mm.free(self.buf, by)


def devm_kzalloc(dev: Device, size: int, flags: int = GFP_KERNEL) -> Buffer | None:
    kernel = current()
    expect("devm_kzalloc", "dev", dev, Device, "the Device the driver is bound to")
    buf = kernel.mm.alloc(size, flags, "devm_kzalloc")
    if buf is not None:
        dev.devres.append(("kzalloc", DevmRelease(kernel, dev, buf)))
    return buf


def devm_kfree(dev: Device, buf: object) -> None:
    """Frees a devm_kzalloc buffer before its device's unbind (drivers/base/devres.c); NULL
    is nothing; memory devm did not allocate for `dev` is its WARN_ON(devres_destroy)."""
    if buf is None or (type(buf) is int and buf == 0):
        return
    kernel = current()
    expect("devm_kfree", "dev", dev, Device, "the Device devm_kzalloc was given")
    for i, (_, release) in enumerate(dev.devres):
        if isinstance(release, DevmRelease) and release.buf is buf:
            del dev.devres[i]
            kernel.sched.point()
            kernel.mm.free(buf)
            return
    kernel.warn(titles.DEVM_KFREE_UNKNOWN, f"devm_kfree() of {buf!r}, which devm_kzalloc did not "
                f"allocate for {dev.name}")




def kvmalloc(size: int, flags: int = GFP_KERNEL) -> Buffer | None:
    return current().mm.alloc(size, flags, "kvmalloc", KVMALLOC_MAX_SIZE)


def kvzalloc(size: int, flags: int = GFP_KERNEL) -> Buffer | None:
    return current().mm.alloc(size, flags, "kvzalloc", KVMALLOC_MAX_SIZE)


kvfree = kfree
