"""refcount_t, kref, and module references (try_module_get / module_put)."""

from __future__ import annotations

from collections.abc import Callable

from . import titles
from .current import current
from .frames import caller_site
from .misuse import expect, misuse
from .module import Module, ModuleState
from .titles import Title

# include/linux/refcount.h: the count is an int; INT_MIN / 2, kept here as the
# unsigned value refcount_read gives, is where it saturates and stays
REFCOUNT_SATURATED = 0xC0000000
REFCOUNT_MAX = 0x7FFFFFFF  # INT_MAX: one more would be negative
NEGATIVE = 0x80000000  # from here up the int is negative: saturated, or gone past it


class Refcount:
    """A saturating counter: underflow or increment from 0 is a bug, never a wrap."""

    __slots__ = ("refs", "_kcsan_vc")

    def __init__(self, n: int = 1):
        self.refs = n

    def __repr__(self) -> str:
        return f"refcount_t({self.refs})"


def refcount_t(n: int = 1) -> Refcount:
    return Refcount(n)


def refcount_set(r: Refcount, n: int) -> None:
    r.refs = n & 0xFFFFFFFF


def refcount_read(r: Refcount) -> int:
    return r.refs


def _warn_saturate(r: Refcount, title: Title, message: str) -> None:
    """refcount_warn_saturate (lib/refcount.c): the count is set to REFCOUNT_SATURATED,
    so the object leaks rather than being freed under a user, and a WARN (taint W)."""
    r.refs = REFCOUNT_SATURATED
    kernel = current()
    kernel.taints.add("W")
    kernel.report(title, message)


def _overflows(old: int) -> bool:
    """`old < 0 || old + 1 < 0` of an int: already negative, or INT_MAX."""
    return old >= REFCOUNT_MAX


def refcount_inc(r: Refcount) -> None:
    old = r.refs
    if old == 0:
        _warn_saturate(r, titles.REFCOUNT_ADDITION_ON_0, "refcount_t: addition on 0; use-after-free.")
    elif _overflows(old):
        _warn_saturate(r, titles.REFCOUNT_SATURATED, "refcount_t: saturated; leaking memory.")
    else:
        r.refs = old + 1


def refcount_inc_not_zero(r: Refcount) -> bool:
    old = r.refs
    if old == 0:
        return False
    if _overflows(old):
        _warn_saturate(r, titles.REFCOUNT_SATURATED, "refcount_t: saturated; leaking memory.")
    else:
        r.refs = old + 1
    return True


def refcount_dec_and_test(r: Refcount) -> bool:
    """__refcount_sub_and_test: true when the count drops to 0; from 0 or from a
    negative (saturated) count it is an underflow, and the count saturates."""
    old = r.refs
    if old == 0 or old >= NEGATIVE:
        _warn_saturate(r, titles.REFCOUNT_UNDERFLOW, "refcount_t: underflow; use-after-free.")
        return False
    r.refs = old - 1
    kcsan = current().kcsan
    if kcsan is not None:  # release ordering on every put, acquire on the last (refcount.h)
        kcsan.release(r)
        if r.refs == 0:
            kcsan.acquire(r)
    return r.refs == 0


def refcount_dec(r: Refcount) -> None:
    """__refcount_dec: a count of 1 or less (0, or negative) is "decrement hit 0"."""
    old = r.refs
    if old <= 1 or old >= NEGATIVE:
        _warn_saturate(r, titles.REFCOUNT_DECREMENT_HIT_0, "refcount_t: decrement hit 0; leaking memory.")
        return
    r.refs = old - 1


class Kref:
    __slots__ = ("refcount",)

    def __init__(self) -> None:
        self.refcount = Refcount(1)

    def __repr__(self) -> str:
        return f"kref({self.refcount.refs})"


def kref_init() -> Kref:
    return Kref()


def kref_get(k: Kref) -> None:
    expect("kref_get", "the kref", k, Kref, "a Kref (kref_init())")
    refcount_inc(k.refcount)


def kref_put(k: Kref, release: Callable[[Kref], object]) -> bool:
    expect("kref_put", "the kref", k, Kref, "a Kref (kref_init())")
    if not callable(release):
        raise misuse("kref_put", "release", release, "a function release(kref)")
    current().sched.point()  # a scheduling point: another task may drop its reference first
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
