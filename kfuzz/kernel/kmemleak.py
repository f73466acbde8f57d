"""kmemleak (mm/kmemleak.c): a buffer that nothing references any more, never freed.

kmemleak scans memory for pointers and reports an allocation no module global, no
other live object and no kernel table points to. Python's reference counts see this
exactly: a `Buffer` whose last reference goes (a local at return, a field or global
overwritten, a module's globals at rmmod) runs `__del__`, and if it was never kfree'd
that is a leak. `__del__` can run anywhere (inside kernel code, in the collector), so
it only files a `Leak` here; the kernel reports the leaks at the end of the operation
(`scan`), after collecting the cycles of buffers that refer to each other.

The kernel's bookkeeping holds buffers weakly: `Memory.live` keeps weak references,
findings keep formatted sites. What Linux itself points to holds them as Linux does:
a file's `private_data`, a device's drvdata and devres, an IRQ's `dev_id`, a timer's
or work's `data`.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import titles
from .frames import Site, format_stack, guilty_site

if TYPE_CHECKING:
    from .core import Kernel
    from .mm import Buffer
    from .module import Module

# what a module keeps when its globals go: what the kernel's unloaded-code check reads
KEPT_GLOBALS = ("THIS_MODULE", "__name__", "__file__", "__builtins__")


@dataclass(frozen=True)
class Leak:
    """A buffer gone unfreed, as kmemleak's report names it (no reference to it)."""

    size: int
    owner: str | None  # the allocating module
    alloc: list[Site]
    holder: str | None  # the module whose globals held it last, when they went


class Kmemleak:
    """Leaks filed by dying buffers, reported at the end of each operation."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.pending: list[Leak] = []
        self.dropping: Module | None = None  # a module whose globals are going now

    def lost(self, buf: Buffer) -> None:
        """Called from `Buffer.__del__` of a buffer never freed: files it, nothing more."""
        owner = buf._kb_owner
        holder = self.dropping
        self.pending.append(Leak(len(buf._kb_data), owner.name if owner else None, buf._kb_alloc,
                                 holder.name if holder else None))

    def drop_globals(self, mod: Module) -> None:
        """The module is gone, and its .data and .bss with it: what only its globals
        held is unreferenced now (a library's too: what it kept is its leak)."""
        ns = mod.namespace
        kept = {name: ns[name] for name in KEPT_GLOBALS if name in ns}
        self.dropping = mod
        try:
            ns.clear()
        finally:
            self.dropping = None
            ns.update(kept)

    def scan(self, live: Iterable[weakref.ref[Buffer]]) -> None:
        """The end of an operation: collect cycles of buffers if any could be one, then
        report every leak filed. Reported as kmemleak does: not fatal, the kernel goes on."""
        if any(_may_cycle(ref()) for ref in live):
            gc.collect()
        while self.pending:
            self.report(self.pending.pop(0))

    def discard(self) -> None:
        """A fatal finding unwound module code: what its frames held died with them."""
        self.pending.clear()

    def report(self, leak: Leak) -> None:
        held = f", last held by module {leak.holder}" if leak.holder and leak.holder != leak.owner else ""
        self.kernel.report(
            titles.MEMORY_LEAK,
            f"unreferenced object of size {leak.size} (module {leak.owner or '?'}){held}",
            site=leak_site(leak.alloc, leak.owner), stack=leak.alloc, alloc=format_stack(leak.alloc),
            fatal=False)


def _may_cycle(buf: Buffer | None) -> bool:
    """A buffer can be in a cycle only through a field holding a container (another
    buffer, a list, an object): with none, reference counts alone see its end. (Only
    weak references are held here: a list of the buffers would keep them alive.)"""
    return buf is not None and any(map(gc.is_tracked, buf._kb_fields.values()))


def leak_site(alloc: list[Site], owner: str | None) -> Site | None:
    """The allocating module's innermost frame of the allocation."""
    mine = [s for s in alloc if owner is None or s.module == owner]
    return guilty_site(mine or alloc)
