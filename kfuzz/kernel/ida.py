"""IDA, the ID allocator (lib/idr.c): the lowest free integer id in a range.

Allocation can fail as Linux's does, where the xarray allocates a node (-ENOMEM,
a fallible call for fault injection) or the range is full (-ENOSPC). Freeing an id
not allocated is the WARN lib/idr.c gives, and a negative one its BUG_ON. An IDA's
memory is not tracked: ids never freed are no leak finding (Linux keeps small ids in
the xarray's own slots, so kmemleak does not see them either).
"""

from __future__ import annotations

from . import titles
from .current import current
from .errno import ENOMEM, ENOSPC
from .faults import should_fail
from .misuse import expect, misuse
from .mm import GFP_DIRECT_RECLAIM, GFP_KERNEL

INT_MAX = (1 << 31) - 1


class Ida:
    """`struct ida`: the ids allocated now."""

    __slots__ = ("ids",)

    def __init__(self) -> None:
        self.ids: set[int] = set()

    def __repr__(self) -> str:
        return f"<ida {sorted(self.ids)}>"


def DEFINE_IDA() -> Ida:
    return Ida()


def ida_init() -> Ida:
    return Ida()


def _ida(api: str, ida: Ida) -> Ida:
    expect(api, "the ida", ida, Ida, "an Ida (DEFINE_IDA() or ida_init())")
    return ida


def ida_alloc_range(ida: Ida, min: int, max: int, gfp: int = GFP_KERNEL) -> int:
    """The lowest free id from min to max (both included): -ENOSPC past INT_MAX or when
    none is free, -ENOMEM when the xarray's allocation fails."""
    ida = _ida("ida_alloc_range", ida)
    for what, value in (("min", min), ("max", max)):
        if not isinstance(value, int):
            raise misuse("ida_alloc_range", what, value, "an int")
    if min < 0 or min > INT_MAX:  # (int)min < 0
        return -ENOSPC
    if max < 0 or max > INT_MAX:  # (int)max < 0: max = INT_MAX
        max = INT_MAX
    kernel = current()
    if gfp & GFP_DIRECT_RECLAIM:
        kernel.locking.might_sleep()
    if should_fail("ida_alloc"):
        return -ENOMEM
    id = min
    while id in ida.ids:
        id += 1
    if id > max:
        return -ENOSPC
    ida.ids.add(id)
    return id


def ida_alloc(ida: Ida, gfp: int = GFP_KERNEL) -> int:
    return ida_alloc_range(ida, 0, INT_MAX, gfp)


def ida_alloc_min(ida: Ida, min: int, gfp: int = GFP_KERNEL) -> int:
    return ida_alloc_range(ida, min, INT_MAX, gfp)


def ida_alloc_max(ida: Ida, max: int, gfp: int = GFP_KERNEL) -> int:
    return ida_alloc_range(ida, 0, max, gfp)


def ida_free(ida: Ida, id: int) -> None:
    ida = _ida("ida_free", ida)
    kernel = current()
    if not isinstance(id, int) or id < 0:  # BUG_ON((int)id < 0)
        kernel.bug(titles.BUG, f"kernel BUG: ida_free called for a negative id ({id!r})")
        return
    if id not in ida.ids:
        kernel.warn(titles.IDA_FREE_UNALLOCATED, f"ida_free called for id={id} which is not allocated.")
        return
    ida.ids.discard(id)


def ida_destroy(ida: Ida) -> None:
    _ida("ida_destroy", ida).ids.clear()


def ida_is_empty(ida: Ida) -> bool:
    return not _ida("ida_is_empty", ida).ids
