"""container_of (include/linux/container_of.h): from a member to the struct that embeds it.

A struct is a kmalloc'd Buffer and a member is what a field of it holds: a Kref, a Work,
a Timer, a MiscDevice, a Completion, a lock, any object. Each buffer records, as a field
is stored, which objects it holds (mm.py: `Memory.homes`, a hint by id checked here), so
`container_of(kref, "struct my_dev", "kref")` is the buffer whose field `kref` holds that
very object. Like the macro it touches no memory: the buffer may be freed, and the module
finds out, as KASAN would, when it reads it. A member name that is not the field the
object is in, or an object no buffer holds, is a misuse at the call.
"""

from __future__ import annotations

from .current import current
from .misuse import expect, shown
from .mm import Buffer


def _holds(buf: Buffer, ptr: object) -> list[str]:
    """The fields of `buf` that hold `ptr` itself (no KASAN check: no memory is read)."""
    return [name for name, value in buf._kb_fields.items() if value is ptr]


def container_of(ptr: object, type: object, member: str) -> Buffer:
    """The kmalloc'd buffer whose field `member` holds `ptr`. `type` is what the port
    writes for the struct's type (a string, a class, None): only documentation here."""
    expect("container_of", "member", member, str, 'the name of a field, as a string: "kref"')
    mm = current().mm
    ref = mm.homes.get(id(ptr))
    home = ref() if ref is not None else None
    if home is not None and home._kb_fields.get(member) is ptr:
        return home
    # the hint is stale (the object was stored elsewhere since, or its id was reused):
    # every buffer not freed, the hint's own first
    candidates = ([home] if home is not None else []) + [
        buf for r in list(mm.live.values()) if (buf := r()) is not None and buf is not home]
    held = [(buf, names) for buf in candidates if (names := _holds(buf, ptr))]
    for buf, names in held:
        if member in names:
            return buf
    if held:
        buf, names = held[0]
        raise TypeError(f"container_of: {shown(ptr)} is field '{names[0]}' of {buf!r}, not "
                        f"'{member}': member takes the name of the field that holds it")
    raise TypeError(f"container_of: ptr takes a member of kmalloc'd memory (an object stored in a "
                    f"field of a kmalloc'd buffer), got {shown(ptr)}, which no buffer holds")


def from_timer(var: object, timer: object, field: str) -> Buffer:
    """include/linux/timer.h: container_of(timer, typeof(*var), field); `var` only names
    the type in C (write None, or anything: a local of the callback cannot be used
    before Python assigns it)."""
    return container_of(timer, var, field)
