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
# what the graph goes through: containers, objects of module code, buffers and the kernel
# structs that module code stores in them; the kernel itself, modules and code are leaves
STRUCTS = frozenset({"Buffer", "Timer", "Work", "DelayedWork", "Device", "File", "Inode"})
LEAVES = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
          types.CodeType, types.FrameType, types.CellType, weakref.ref)
LEAF, THROUGH, BUFFER = 0, 1, 2
_steps: dict[type, int] = {}  # the kernel's and builtin types only: module code's come and go


def may_be_cyclic_garbage(live: Iterable[weakref.ref[Buffer]]) -> bool:
    found = _graph(_roots(live))  # no local may hold a buffer: it would count as a holder
    if found is None:
        return True
    graph, edges = found
    return bool(graph) and _unreachable_buffer(graph, edges)


def _roots(live: Iterable[weakref.ref[Buffer]]) -> list[Buffer]:
    """The buffers that hold a container: with none, reference counts alone see their end."""
    bufs = [ref() for ref in live]
    return [buf for buf in bufs if buf is not None and any(map(gc.is_tracked, buf._kb_fields.values()))]


def _step(obj: object) -> int:
    kind = type(obj)
    step = _steps.get(kind)
    if step is None:
        module = kind.__module__
        ours = module.startswith("kfuzz.")
        if ours and kind.__name__ == "Buffer":
            step = BUFFER
        elif issubclass(kind, LEAVES) or ours and kind.__name__ not in STRUCTS:
            step = LEAF
        else:
            step = THROUGH
        if ours or module == "builtins":
            _steps[kind] = step
    return step


def _referents(obj: object, step: int) -> list[object]:
    if step == BUFFER:
        return [obj._kb_fields]  # type: ignore[attr-defined]  # its data, sites and mm are no path
    return [r for r in gc.get_referents(obj) if gc.is_tracked(r) and _step(r) != LEAF]


def _graph(roots: list[Buffer]) -> tuple[dict[int, object], dict[int, list[int]]] | None:
    """What the roots reach, by id, and each one's edges (ids: they hold no reference)."""
    graph: dict[int, object] = {}
    edges: dict[int, list[int]] = {}
    stack: list[object] = list(roots)
    while stack:
        obj = stack.pop()
        key = id(obj)
        if key not in graph:
            if len(graph) == GRAPH_LIMIT:
                return None
            graph[key] = obj
            refs = _referents(obj, _step(obj))
            edges[key] = [id(r) for r in refs]
            stack.extend(refs)
    return graph, edges


def _unreachable_buffer(graph: dict[int, object], edges: dict[int, list[int]]) -> bool:
    inner = dict.fromkeys(graph, 0)
    for targets in edges.values():
        for key in targets:
            inner[key] += 1
    # references: the graph's own (one each) and getrefcount's argument
    held = [key for key in list(graph) if _refcount(graph, key) - 2 > inner[key]]
    alive: set[int] = set()
    while held:
        key = held.pop()
        if key not in alive:
            alive.add(key)
            held.extend(edges[key])
    return any(key not in alive and _step(obj) == BUFFER for key, obj in graph.items())


def _refcount(graph: dict[int, object], key: int) -> int:
    return sys.getrefcount(graph[key])


def leak_site(alloc: list[Site], owner: str | None) -> Site | None:
    """The allocating module's innermost frame of the allocation."""
    mine = [s for s in alloc if owner is None or s.module == owner]
    return guilty_site(mine or alloc)
