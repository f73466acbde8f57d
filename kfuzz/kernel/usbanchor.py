"""URB anchors (drivers/usb/core/urb.c): a driver's list of URBs in flight, to kill
or wait for together. An anchor holds a reference to each URB on it; an URB leaves
its anchor when it is given back (hcd.py), before its completion handler runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .current import current
from .mm import Buffer
from .sched import TIMED_OUT, Wait
from .timer import msecs_to_jiffies
from .urb import (
    UrbState,
    is_null,
    urb_state,
    usb_free_urb,
    usb_get_urb,
    usb_kill_urb,
    usb_poison_urb,
    usb_unpoison_urb,
)

if TYPE_CHECKING:
    from .core import Kernel


@dataclass(eq=False)
class UsbAnchor:
    """`struct usb_anchor`."""

    urb_list: list[Buffer] = field(default_factory=list)
    poisoned: int = 0
    suspend_wakeups: int = 0  # completions running: the anchor is not empty for a waiter yet

    def __repr__(self) -> str:
        return f"<usb_anchor of {len(self.urb_list)} URB(s)>"


def init_usb_anchor() -> UsbAnchor:
    return UsbAnchor()


def usb_anchor_urb(urb: Buffer, anchor: UsbAnchor) -> None:
    """The anchor takes a reference; a poisoned anchor poisons the URB."""
    st = urb_state(current(), urb, "usb_anchor_urb")
    st.refs += 1
    anchor.urb_list.append(urb)
    st.anchor = anchor
    if anchor.poisoned:
        st.reject += 1


def unanchor(kernel: Kernel, urb: Buffer, st: UrbState) -> None:
    """__usb_unanchor_urb: off the list; the anchor's reference goes (the caller holds
    another, or the URB may go with it)."""
    anchor = st.anchor
    if anchor is None:
        return
    anchor.urb_list.remove(urb)
    st.anchor = None
    if kernel.kcsan is not None:  # anchor->lock: what came before happens before a killer sees it gone
        kernel.kcsan.release(anchor)
    st.refs -= 1
    if st.refs == 0:
        kernel.mm.free(urb)


def usb_unanchor_urb(urb: Buffer | None) -> None:
    if is_null(urb):
        return
    kernel = current()
    unanchor(kernel, urb, urb_state(kernel, urb, "usb_unanchor_urb"))  # type: ignore[arg-type]


def _each_victim(anchor: UsbAnchor, call: str, cancel: object) -> None:
    """Kills (or poisons) the anchor's URBs from the last one; each is unanchored when
    given back. One that stays anchored is not in flight: Linux's loop drops the anchor's
    lock and spins (cpu_relax), so another CPU may unanchor it meanwhile (a writer whose
    submit failed, on its way to usb_unanchor_urb) or submit it (the next pass kills
    it). kfuzz lets the other tasks run until one of these happens; when nothing else
    can run, the spin never ends: a hang (a soft lockup in Linux)."""
    kernel = current()
    while anchor.urb_list:
        victim = anchor.urb_list[-1]
        usb_get_urb(victim)
        cancel(victim)  # type: ignore[operator]
        still = anchor.urb_list and anchor.urb_list[-1] is victim
        st = urb_state(kernel, victim, call) if still else None
        usb_free_urb(victim)
        if st is not None:
            def moved(victim: Buffer = victim, st: UrbState = st) -> bool:
                return not (anchor.urb_list and anchor.urb_list[-1] is victim) or st.active
            kernel.sched.block(Wait(f"watchdog: BUG: soft lockup: {call} spins: URB {id(victim):#x} is "
                                    "anchored but not in flight (anchored and never submitted, or its "
                                    "submit failed without usb_unanchor_urb)", moved))
            if kernel.kcsan is not None:  # the spin's next spin_lock_irq(&anchor->lock)
                kernel.kcsan.acquire(anchor)
    if anchor.suspend_wakeups:  # usb_anchor_check_wakeup: completions still running elsewhere
        kernel.sched.block(Wait(f"{call}: completions running", lambda: not anchor.suspend_wakeups))


def usb_kill_anchored_urbs(anchor: UsbAnchor) -> None:
    current().locking.might_sleep("usb_kill_anchored_urbs")
    _each_victim(anchor, "usb_kill_anchored_urbs", usb_kill_urb)


def usb_poison_anchored_urbs(anchor: UsbAnchor) -> None:
    current().locking.might_sleep("usb_poison_anchored_urbs")
    anchor.poisoned = 1
    _each_victim(anchor, "usb_poison_anchored_urbs", usb_poison_urb)


def usb_unpoison_anchored_urbs(anchor: UsbAnchor) -> None:
    for urb in list(anchor.urb_list):
        usb_unpoison_urb(urb)
    anchor.poisoned = 0


def usb_anchor_empty(anchor: UsbAnchor) -> bool:
    return not anchor.urb_list


def usb_get_from_anchor(anchor: UsbAnchor) -> Buffer | None:
    """The oldest URB, unanchored, with a reference the caller must put."""
    if not anchor.urb_list:
        return None
    kernel = current()
    victim = anchor.urb_list[0]
    st = urb_state(kernel, victim, "usb_get_from_anchor")
    st.refs += 1
    unanchor(kernel, victim, st)
    return victim


def usb_scuttle_anchored_urbs(anchor: UsbAnchor) -> None:
    """Unanchors every URB without cancelling it."""
    kernel = current()
    while anchor.urb_list:
        urb = anchor.urb_list[0]
        unanchor(kernel, urb, urb_state(kernel, urb, "usb_scuttle_anchored_urbs"))


def usb_wait_anchor_empty_timeout(anchor: UsbAnchor, timeout: int) -> int:
    """Waits (uninterruptibly) up to `timeout` ms for the anchor to empty: the jiffies
    left (at least 1), or 0 when it timed out."""
    kernel = current()
    kernel.locking.might_sleep("usb_wait_anchor_empty_timeout")

    def empty() -> bool:
        return not anchor.urb_list and not anchor.suspend_wakeups

    deadline = kernel.jiffies + msecs_to_jiffies(timeout)
    if not empty():
        if kernel.sched.block(Wait(f"usb_wait_anchor_empty_timeout on {anchor!r}", empty, deadline)) \
                == TIMED_OUT:
            return 0
    return max(1, deadline - kernel.jiffies)
