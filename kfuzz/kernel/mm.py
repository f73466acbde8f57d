"""Memory: kmalloc'd buffers with KASAN-style checks and kmemleak-style accounting."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, SupportsBytes, SupportsIndex, overload

from . import titles
from .current import current
from .debugobjects import check_no_obj_freed
from .errno import ENOMEM  # noqa: F401  (re-exported for callers)
from .faults import should_fail
from .findings import Kind
from .frames import Site, format_stack, guilty_site, module_stack
from .module import Module
from .subsystem import Leftover

if TYPE_CHECKING:
    from .core import Kernel
    from .device import Device

GFP_KERNEL = 0xCC0
GFP_ATOMIC = 0x20
GFP_NOWAIT = 0x800
__GFP_ZERO = 0x100
GFP_DIRECT_RECLAIM = 0x400  # __GFP_DIRECT_RECLAIM: in GFP_KERNEL, not GFP_ATOMIC or GFP_NOWAIT

# what KASAN says of a bad access: its title and the first words of its message
ACCESS_BUGS = {Kind.USE_AFTER_FREE: (titles.USE_AFTER_FREE, "use of freed memory"),
               Kind.OUT_OF_BOUNDS: (titles.OUT_OF_BOUNDS, "access out of bounds")}


class Buffer:
    """A kmalloc'd buffer. It never changes size and checks every access.

    Bytes are `buf[i]`, `buf[a:b]`; any other attribute is a struct field
    (`buf.count = 0`). Internal state lives in `_kb_` slots so that fields
    cannot collide with it.
    """

    __slots__ = ("_kb_data", "_kb_fields", "_kb_mm", "_kb_owner", "_kb_alloc", "_kb_free")

    def __init__(self, mm: Memory, size: int, owner: Module | None, alloc: list[Site]):
        object.__setattr__(self, "_kb_data", bytearray(size))
        object.__setattr__(self, "_kb_fields", {})
        object.__setattr__(self, "_kb_mm", mm)
        object.__setattr__(self, "_kb_owner", owner)
        object.__setattr__(self, "_kb_alloc", alloc)
        object.__setattr__(self, "_kb_free", None)

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
        if isinstance(key, slice):
            data = bytes(value)
            start, _ = self._kb_range(key, len(data))
            self._kb_data[start:start + len(data)] = data
        else:
            self._kb_range(key)
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
        try:
            return self._kb_fields[name]
        except KeyError:
            raise AttributeError(f"kernel buffer has no field '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._kb_check(f"field '{name}'")
        self._kb_fields[name] = value

    def __delattr__(self, name: str) -> None:
        self._kb_check(f"field '{name}'")
        self._kb_fields.pop(name, None)

    def __repr__(self) -> str:
        state = "freed" if self._kb_free is not None else "live"
        return f"<kbuf {len(self._kb_data)} bytes {state}>"


class Memory:
    """The slab: live buffers by owner, for leak checks at unload."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.live: dict[int, Buffer] = {}

    def alloc(self, size: int, flags: int, what: str) -> Buffer | None:
        kernel = self.kernel
        if flags & GFP_DIRECT_RECLAIM:
            kernel.locking.might_sleep()
        if not isinstance(size, int) or size < 0:
            raise TypeError(f"{what}: size must be a non-negative int, not {size!r}")
        if should_fail(what):
            return None
        buf = Buffer(self, size, kernel.current_module(), module_stack())
        self.live[id(buf)] = buf
        return buf

    def free(self, buf: object, by: Site | None = None) -> None:
        """kfree; `by` names the kernel's own freeing (devres) when no module code does it."""
        if buf is None:
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

    def report_access(self, buf: Buffer, kind: Kind, what: str) -> None:
        size = len(buf._kb_data)
        title, said = ACCESS_BUGS[kind]
        self.kernel.report(title, f"{said}: {what} of a {size}-byte buffer",
                           alloc=format_stack(buf._kb_alloc),
                           free=format_stack(buf._kb_free or []))

    def owned_by(self, mod: Module) -> list[Buffer]:
        return [b for b in self.live.values() if b._kb_owner is mod]

    def leftovers(self, mod: Module) -> list[Leftover]:
        """Each buffer still held is a memory leak, not a dangling registration."""
        return [Leftover("buffer", f"{len(b._kb_data)} bytes", _leak_site(b, mod),
                         partial(self.report_leak, b, mod)) for b in self.owned_by(mod)]

    def owners(self) -> Iterable[Module | None]:
        return (b._kb_owner for b in self.live.values())

    def report_leak(self, buf: Buffer, mod: Module | None) -> None:
        """A buffer still held when its module is gone: kmemleak's report."""
        alloc = buf._kb_alloc
        site = _leak_site(buf, mod)
        self.kernel.report(
            titles.MEMORY_LEAK,
            f"unreferenced object of size {len(buf._kb_data)} (module {mod.name if mod else '?'})",
            site=site, stack=alloc, alloc=format_stack(alloc))


def _leak_site(buf: Buffer, mod: Module | None) -> Site | None:
    """The leaking module's innermost frame of the allocation."""
    mine = [s for s in buf._kb_alloc if mod is None or s.module == mod.name]
    return guilty_site(mine or buf._kb_alloc)


def kmalloc(size: int, flags: int = GFP_KERNEL) -> Buffer | None:
    return current().mm.alloc(size, flags, "kmalloc")


def kzalloc(size: int, flags: int = GFP_KERNEL) -> Buffer | None:
    return current().mm.alloc(size, flags, "kzalloc")


def kcalloc(n: int, size: int, flags: int = GFP_KERNEL) -> Buffer | None:
    return current().mm.alloc(n * size, flags, "kcalloc")


def kfree(buf: object) -> None:
    current().mm.free(buf)


def devm_kzalloc(dev: Device, size: int, flags: int = GFP_KERNEL) -> Buffer | None:
    kernel = current()
    buf = kernel.mm.alloc(size, flags, "devm_kzalloc")
    if buf is not None:
        def release() -> None:  # the free site names the allocation the buffer already records
            site = guilty_site(buf._kb_alloc)
            by = Site(site.module if site else "?", f"devres release of {dev.name} (devm_kzalloc in "
                      f"{site.function if site else '?'})", "<kernel>", 0)
            kernel.mm.free(buf, by)

        dev.devres.append(("kzalloc", release))
    return buf
