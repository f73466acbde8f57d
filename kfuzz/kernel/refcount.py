"""refcount_t, kref, and module references (try_module_get / module_put)."""

from __future__ import annotations

from collections.abc import Callable

from . import titles
from .current import current
from .frames import caller_site
from .module import Module, ModuleState

REFCOUNT_SATURATED = 0xC0000000


class Refcount:
    """A saturating counter: underflow or increment from 0 is a bug, never a wrap."""

    __slots__ = ("refs",)

    def __init__(self, n: int = 1):
        self.refs = n

    def __repr__(self) -> str:
        return f"refcount_t({self.refs})"


def refcount_t(n: int = 1) -> Refcount:
    return Refcount(n)


def refcount_set(r: Refcount, n: int) -> None:
    r.refs = n


def refcount_read(r: Refcount) -> int:
    return r.refs


def refcount_inc(r: Refcount) -> None:
    if r.refs == 0:
        current().report(titles.REFCOUNT_ADDITION_ON_0,
                         "refcount_t: addition on 0; use-after-free.")
    if r.refs < REFCOUNT_SATURATED:
        r.refs += 1


def refcount_inc_not_zero(r: Refcount) -> bool:
    if r.refs == 0:
        return False
    r.refs += 1
    return True


def refcount_dec_and_test(r: Refcount) -> bool:
    if r.refs == 0:
        current().report(titles.REFCOUNT_UNDERFLOW,
                         "refcount_t: underflow; use-after-free.")
    if r.refs >= REFCOUNT_SATURATED:
        return False
    r.refs -= 1
    return r.refs == 0


def refcount_dec(r: Refcount) -> None:
    if refcount_dec_and_test(r):
        current().report(titles.REFCOUNT_DECREMENT_HIT_0,
                         "refcount_t: decrement hit 0; leaking memory.")


class Kref:
    __slots__ = ("refcount",)

    def __init__(self) -> None:
        self.refcount = Refcount(1)

    def __repr__(self) -> str:
        return f"kref({self.refcount.refs})"


def kref_init() -> Kref:
    return Kref()


def kref_get(k: Kref) -> None:
    refcount_inc(k.refcount)


def kref_put(k: Kref, release: Callable[[Kref], object]) -> bool:
    if refcount_dec_and_test(k.refcount):
        release(k)
        return True
    return False


def kref_read(k: Kref) -> int:
    return k.refcount.refs


# -- module references --------------------------------------------------------

def module_get(mod: Module) -> None:
    """Take a reference; remember where, so a leaked one can be blamed."""
    mod.refcnt += 1
    mod.ref_sites.append(caller_site())


def module_put_ref(mod: Module) -> None:
    if mod.refcnt <= 0:
        current().report(titles.MODULE_REFCOUNT_UNDERFLOW,
                         f"module_put() of {mod.name} with no reference held", mod=mod.name)
        return
    mod.refcnt -= 1
    site = caller_site()
    origin = site.module if site else None
    for i in range(len(mod.ref_sites) - 1, -1, -1):
        held = mod.ref_sites[i]
        if (held.module if held else None) == origin:
            del mod.ref_sites[i]
            return
    mod.ref_sites.pop()


def try_module_get(mod: Module | None) -> bool:
    if mod is None:
        return True
    if mod.state not in (ModuleState.LIVE, ModuleState.COMING):
        return False
    module_get(mod)
    return True


def __module_get(mod: Module | None) -> None:
    if mod is not None:
        module_get(mod)


def module_put(mod: Module | None) -> None:
    if mod is not None:
        module_put_ref(mod)


def module_refcount(mod: Module) -> int:
    return mod.refcnt
