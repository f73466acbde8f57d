"""One load of a module: what lsmod shows and what the kernel's checks blame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dyndbg import Query
    from .frames import Site
    from .image import ModuleImage


class ModuleState(Enum):
    COMING = "Loading"
    LIVE = "Live"
    GOING = "Unloading"
    UNLOADED = "Unloaded"


@dataclass(eq=False)
class Module:
    """A loaded module; `THIS_MODULE` in module code is this object.

    A fresh one is made at every insmod, so code of an earlier load that is still
    referenced (an open file's fops, an armed timer) can be told apart from the
    current load: its module is UNLOADED.
    """

    name: str
    image: ModuleImage
    state: ModuleState = ModuleState.COMING
    namespace: dict[str, Any] = field(default_factory=dict)  # the module's globals, as exec() takes them
    init: Callable[[], object] | None = None  # module code: should give 0 or -errno, the loader checks
    exit: Callable[[], object] | None = None
    exports: dict[str, tuple[Callable[..., object], bool]] = field(default_factory=dict)
    uses: list[Module] = field(default_factory=list)
    users: list[Module] = field(default_factory=list)
    refcnt: int = 0
    ref_sites: list[Site | None] = field(default_factory=list)
    params: dict[str, object] = field(default_factory=dict)
    gpl_compatible: bool = True
    # WARN_ON_ONCE's `__warned` flags, (file, line) of each site that has warned: in
    # Linux a static in the module's .data, so a new load starts with none
    warned_once: set[tuple[str, int]] = field(default_factory=set)
    # dynamic debug's queries for this load (the `dyndbg` parameter at insmod, dyndbg.py)
    dyndbg: list[Query] = field(default_factory=list)

    @property
    def permanent(self) -> bool:
        return self.init is not None and self.exit is None

    @property
    def live(self) -> bool:
        return self.state is not ModuleState.UNLOADED

    def __repr__(self) -> str:
        return f"<module {self.name} {self.state.value}>"


def module_of(fn: object) -> Module | None:
    """The module whose code `fn` is, or None for kernel code."""
    fn = getattr(fn, "__func__", fn)
    fn = getattr(fn, "func", fn)  # functools.partial
    glb = getattr(fn, "__globals__", None)
    mod = glb.get("THIS_MODULE") if glb is not None else None
    return mod if isinstance(mod, Module) else None
