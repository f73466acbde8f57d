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
import sys
import types
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
        self.collections = 0  # how often the scan ran the collector (its cost)

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
        """The end of an operation: collect if some buffer may sit in a cycle nothing
        outside it holds, then report every leak filed. Reported as kmemleak does: not
        fatal, the kernel goes on."""
        if may_be_cyclic_garbage(live):
            self.collections += 1
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


# Is there a cycle of garbage? The collector knows, at a cost that grows with every
# object of the process (milliseconds in a fuzzer's heap). The scan asks it only when
# the buffers that hold containers, and what they reach, may be one: CPython's own test
# (gc_refs), run on that small graph. An object referenced more often than the graph
# explains is held from outside; what it reaches is alive. The test errs only towards
# collecting; the collector, and each buffer's __del__, decide what is a leak.
GRAPH_LIMIT = 256  # objects; past it, ask the collector
STRUCTS = frozenset({"Timer", "Work", "DelayedWork", "Device", "File", "Inode"})  # kernel structs
LEAVES = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
          types.CodeType, types.FrameType, types.CellType, weakref.ref)


def may_be_cyclic_garbage(live: Iterable[weakref.ref[Buffer]]) -> bool:
    graph = _graph(_roots(live))  # no local may hold a buffer: it would count as a holder
    if graph is None:
        return True
    return bool(graph) and _unreachable_buffer(graph, _internal_refs(graph))


def _roots(live: Iterable[weakref.ref[Buffer]]) -> list[Buffer]:
    """The buffers that hold a container: with none, reference counts alone see their end."""
    bufs = [ref() for ref in live]
    return [buf for buf in bufs if buf is not None and any(map(gc.is_tracked, buf._kb_fields.values()))]


def _inside(obj: object) -> bool:
    """Whether the graph goes through `obj` (a leaf: the kernel, a module, code)."""
    if not gc.is_tracked(obj) or isinstance(obj, LEAVES):
        return False
    kind = type(obj)
    return not kind.__module__.startswith("kfuzz.") or kind.__name__ in STRUCTS or kind.__name__ == "Buffer"


def _referents(obj: object) -> list[object]:
    if type(obj).__name__ == "Buffer" and type(obj).__module__ == "kfuzz.kernel.mm":
        return [obj._kb_fields]  # type: ignore[attr-defined]  # its data, sites and mm are no path
    return [r for r in gc.get_referents(obj) if _inside(r)]


def _graph(roots: list[Buffer]) -> dict[int, object] | None:
    graph: dict[int, object] = {}
    stack: list[object] = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) not in graph:
            if len(graph) == GRAPH_LIMIT:
                return None
            graph[id(obj)] = obj
            stack.extend(_referents(obj))
    return graph


def _internal_refs(graph: dict[int, object]) -> dict[int, int]:
    inner = dict.fromkeys(graph, 0)
    for obj in graph.values():
        for ref in _referents(obj):
            inner[id(ref)] += 1
    return inner


def _unreachable_buffer(graph: dict[int, object], inner: dict[int, int]) -> bool:
    # references: the graph's own (one each), `obj` here and getrefcount's argument
    held = [key for key in list(graph) if _refcount(graph, key) - 2 > inner[key]]
    alive: set[int] = set()
    while held:
        key = held.pop()
        if key not in alive:
            alive.add(key)
            held.extend(id(r) for r in _referents(graph[key]))
    return any(key not in alive and type(obj).__name__ == "Buffer" for key, obj in graph.items())


def _refcount(graph: dict[int, object], key: int) -> int:
    return sys.getrefcount(graph[key])


def leak_site(alloc: list[Site], owner: str | None) -> Site | None:
    """The allocating module's innermost frame of the allocation."""
    mine = [s for s in alloc if owner is None or s.module == owner]
    return guilty_site(mine or alloc)
