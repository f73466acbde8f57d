"""Debug objects (lib/debugobjects.c): a timer or a work item freed while it is active.

A buffer's field that holds a `Timer` or a `Work` is that object embedded in the
struct, as `struct timer_list` is in a driver's private data. kfree of the struct
while the timer is pending or the work queued is what `debug_check_no_obj_freed`
reports ("ODEBUG: free active"), a WARNING at the kfree; its fixup then stops the
object (`timer_fixup_free`, `work_fixup_free`), so the kernel goes on without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import titles
from .frames import Site, module_stack
from .subsystem import fname
from .timer import Timer
from .workqueue import DelayedWork, Work

if TYPE_CHECKING:
    from .core import Kernel


def _active(obj: object) -> tuple[str, str, Timer | Work] | None:
    """(object type, hint, the active object) when `obj` is an active timer or work."""
    if isinstance(obj, Timer):
        if obj.pending:
            hint = "delayed_work_timer_fn" if obj.what == "delayed work" else fname(obj.function)
            return "timer_list", hint, obj
        return None
    if isinstance(obj, Work):
        if obj.pending:
            return "work_struct", fname(obj.func), obj
        if isinstance(obj, DelayedWork) and obj.timer is not None and obj.timer.pending:
            return "timer_list", "delayed_work_timer_fn", obj.timer  # the dwork's own timer
    return None


def check_no_obj_freed(kernel: Kernel, fields: Iterable[object], by: Site | None) -> None:
    """Each active object among a freed buffer's fields: reported, then stopped.
    `by` is the site to blame when no module code is on the stack (devres)."""
    for value in fields:
        if not isinstance(value, (Timer, Work)):
            continue
        found = _active(value)
        if found is None:
            continue
        objtype, hint, obj = found
        kernel.taints.add("W")
        stack = module_stack() or ([by] if by else [])
        kernel.report(titles.ODEBUG_FREE_ACTIVE,
                      f"ODEBUG: free active (active state 0) object: {id(obj) & 0xFFFFFFFF:016x} "
                      f"object type: {objtype} hint: {hint}",
                      stack=stack, fatal=kernel.config.panic_on_warn, type=objtype)
        if isinstance(obj, Timer):
            kernel.timers.disarm(obj)  # timer_fixup_free: del_timer_sync
        else:
            kernel.workqueues.cancel(obj)  # work_fixup_free: cancel_work_sync
