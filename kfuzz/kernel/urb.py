"""URBs (drivers/usb/core/urb.c): allocate, fill, submit, kill, poison, free.

An URB is kmalloc'd memory, a `Buffer` (so KASAN and kmemleak apply: an URB never
freed is a memory leak at its allocating function, one used after its last put is
a use-after-free) whose fields module code reads and writes as `struct urb`'s:
`status`, `actual_length`, `context`, `transfer_buffer`... The core's own state
(its reference count, whether it is in flight, use_count and reject) is kept
beside it in `UrbState`. The core holds a reference while an URB is in flight, so
usb_free_urb right after a submit is correct. The host controller's side, where
URBs complete, is hcd.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .current import current
from .errno import EBADR, EBUSY, EIDRM, EINPROGRESS, EINVAL, EMSGSIZE, ENODEV, ENOENT, ENOEXEC
from .findings import Kind
from .frames import Site, guilty_site
from .mm import GFP_DIRECT_RECLAIM, Buffer
from .sched import Wait
from .usb import USB_SPEED_HIGH, USB_STATE_NOTATTACHED, UsbDevice
from .usbdesc import (
    USB_DIR_IN,
    USB_ENDPOINT_XFER_BULK,
    USB_ENDPOINT_XFER_CONTROL,
    USB_ENDPOINT_XFER_INT,
    USB_ENDPOINT_XFER_ISOC,
    UsbHostEndpoint,
    usb_endpoint_dir_out,
    usb_endpoint_maxp,
    usb_endpoint_type,
)

if TYPE_CHECKING:
    from .core import Kernel
    from .current import Task
    from .timer import Timer
    from .usbanchor import UsbAnchor

GFP_NOIO = 0xC00  # __GFP_RECLAIM: may sleep, as GFP_KERNEL
URB_SIZE = 192  # sizeof(struct urb), near enough
INT_MAX = 0x7FFFFFFF

# include/linux/usb.h transfer_flags
URB_SHORT_NOT_OK = 0x0001
URB_ISO_ASAP = 0x0002
URB_NO_TRANSFER_DMA_MAP = 0x0004
URB_ZERO_PACKET = 0x0040
URB_NO_INTERRUPT = 0x0080
URB_FREE_BUFFER = 0x0100
URB_DIR_IN = 0x0200
URB_DIR_MASK = URB_DIR_IN

# pipes: (type << 30) | (endpoint << 15) | (devnum << 8) | direction
PIPE_ISOCHRONOUS, PIPE_INTERRUPT, PIPE_CONTROL, PIPE_BULK = range(4)
PIPETYPES = {USB_ENDPOINT_XFER_CONTROL: PIPE_CONTROL, USB_ENDPOINT_XFER_ISOC: PIPE_ISOCHRONOUS,
             USB_ENDPOINT_XFER_BULK: PIPE_BULK, USB_ENDPOINT_XFER_INT: PIPE_INTERRUPT}


@dataclass(eq=False)
class UrbState:
    """What the core keeps of an URB: never a reference to the URB itself (it is the
    key of a weak table), so an URB nothing else holds dies, and kmemleak sees it."""

    refs: int = 1  # urb->kref
    active: bool = False  # urb->hcpriv: on its endpoint's queue, not yet given back
    use_count: int = 0  # submitted and not yet through its completion
    reject: int = 0  # usb_kill_urb or usb_poison_urb in progress: submits fail -EPERM
    unlinked: int = 0  # the status an unlink gave it, 0 if none
    ep: UsbHostEndpoint | None = None  # urb->ep, set by the first submit
    dir_in: bool = False
    anchor: UsbAnchor | None = None
    timer: Timer | None = None  # its completion by the device, when one is due (hcd.py)
    running: Task | None = None  # the task its completion runs on now
    stack: list[Site] = field(default_factory=list)  # the module code that submitted it

    @property
    def site(self) -> Site | None:
        return guilty_site(self.stack)


def urb_state(kernel: Kernel, urb: object, call: str) -> UrbState:
    """The core's state of an URB; a freed one is KASAN's use-after-free at the caller."""
    if isinstance(urb, Buffer):
        if urb._kb_free is not None:
            kernel.mm.report_access(urb, Kind.USE_AFTER_FREE, f"{call}() of a freed URB")
        st = kernel.usb.urbs.get(urb)
        if st is not None:
            return st
    raise TypeError(f"{call}: not an URB from usb_alloc_urb: {urb!r}")


def is_null(p: object) -> bool:
    """NULL is None, or 0: a pointer field of kzalloc'd memory never set reads as 0."""
    return p is None or (type(p) is int and p == 0)


# -- lifetime ------------------------------------------------------------------------------------
def usb_alloc_urb(iso_packets: int, mem_flags: int) -> Buffer | None:
    """A zeroed URB with one reference, the caller's."""
    kernel = current()
    urb = kernel.mm.alloc(URB_SIZE, mem_flags, "usb_alloc_urb")
    if urb is not None:
        kernel.usb.urbs[urb] = UrbState()
    return urb


def usb_get_urb(urb: Buffer | None) -> Buffer | None:
    if not is_null(urb):
        urb_state(current(), urb, "usb_get_urb").refs += 1
    return urb


def usb_free_urb(urb: Buffer | None) -> None:
    """usb_free_urb: drops a reference; the last frees it. NULL is nothing."""
    if is_null(urb):
        return
    kernel = current()
    st = urb_state(kernel, urb, "usb_free_urb")
    st.refs -= 1
    if st.refs == 0:
        kernel.sched.point("usb_free_urb")
        kernel.mm.free(urb, Site("usbcore", "urb_destroy", "<kernel>", 0))


usb_put_urb = usb_free_urb


# -- pipes (include/linux/usb.h) -------------------------------------------------------------------
def _pipe(kind: int, dev: UsbDevice, endpoint: int, dir_in: bool) -> int:
    return ((kind << 30) | (dev.devnum << 8) | (endpoint << 15) | (USB_DIR_IN if dir_in else 0)) & 0xFFFFFFFF


def usb_sndctrlpipe(dev: UsbDevice, endpoint: int) -> int:
    return _pipe(PIPE_CONTROL, dev, endpoint, False)


def usb_rcvctrlpipe(dev: UsbDevice, endpoint: int) -> int:
    return _pipe(PIPE_CONTROL, dev, endpoint, True)


def usb_sndbulkpipe(dev: UsbDevice, endpoint: int) -> int:
    return _pipe(PIPE_BULK, dev, endpoint, False)


def usb_rcvbulkpipe(dev: UsbDevice, endpoint: int) -> int:
    return _pipe(PIPE_BULK, dev, endpoint, True)


def usb_sndintpipe(dev: UsbDevice, endpoint: int) -> int:
    return _pipe(PIPE_INTERRUPT, dev, endpoint, False)


def usb_rcvintpipe(dev: UsbDevice, endpoint: int) -> int:
    return _pipe(PIPE_INTERRUPT, dev, endpoint, True)


def usb_pipein(pipe: int) -> bool:
    return bool(pipe & USB_DIR_IN)


def usb_pipeout(pipe: int) -> bool:
    return not usb_pipein(pipe)


def usb_pipeendpoint(pipe: int) -> int:
    return (pipe >> 15) & 0xF


def usb_pipetype(pipe: int) -> int:
    return (pipe >> 30) & 3


def usb_pipe_endpoint(dev: UsbDevice, pipe: int) -> UsbHostEndpoint | None:
    return (dev.ep_in if usb_pipein(pipe) else dev.ep_out)[usb_pipeendpoint(pipe)]


# -- usb_fill_*_urb: inline in Linux, so their stores are the driver's ----------------------------
def usb_fill_bulk_urb(urb: Buffer, dev: UsbDevice, pipe: int, transfer_buffer: Any, buffer_length: int,
                      complete_fn: Any, context: Any) -> None:
    urb.dev = dev
    urb.pipe = pipe
    urb.transfer_buffer = transfer_buffer
    urb.transfer_buffer_length = buffer_length
    urb.complete = complete_fn
    urb.context = context


def usb_fill_int_urb(urb: Buffer, dev: UsbDevice, pipe: int, transfer_buffer: Any, buffer_length: int,
                     complete_fn: Any, context: Any, interval: int) -> None:
    """For a high-speed device bInterval is 2^(interval-1) microframes, clamped to 1..16."""
    usb_fill_bulk_urb(urb, dev, pipe, transfer_buffer, buffer_length, complete_fn, context)
    if dev.speed >= USB_SPEED_HIGH:
        urb.interval = 1 << (min(max(int(interval), 1), 16) - 1)
    else:
        urb.interval = interval
    urb.start_frame = -1


def usb_fill_control_urb(urb: Buffer, dev: UsbDevice, pipe: int, setup_packet: Any, transfer_buffer: Any,
                         buffer_length: int, complete_fn: Any, context: Any) -> None:
    usb_fill_bulk_urb(urb, dev, pipe, transfer_buffer, buffer_length, complete_fn, context)
    urb.setup_packet = setup_packet


# -- usb_submit_urb ------------------------------------------------------------------------------
def usb_submit_urb(urb: Buffer | None, mem_flags: int) -> int:
    """usb_submit_urb's checks, in Linux's order, then the host controller queues it
    (hcd.py): its completion runs later in softirq context. A driver that trusts its
    descriptors meets Linux's warnings: an URB resubmitted while in flight, a pipe of
    the wrong type for its endpoint ("BOGUS urb xfer"), wrong flags or control dir."""
    kernel = current()
    if mem_flags & GFP_DIRECT_RECLAIM:
        kernel.locking.might_sleep("usb_submit_urb")
    if is_null(urb):
        return -EINVAL
    assert urb is not None
    st = urb_state(kernel, urb, "usb_submit_urb")
    f = urb._kb_fields
    if not f.get("complete"):
        return -EINVAL
    if st.active:
        kernel.usb.warn_once("active", f"URB {id(urb):#x} submitted while active")
        return -EBUSY
    dev = f.get("dev")
    if not isinstance(dev, UsbDevice) or dev.state == USB_STATE_NOTATTACHED:
        return -ENODEV
    pipe = int(f.get("pipe", 0))
    ep = usb_pipe_endpoint(dev, pipe)
    if ep is None:
        return -ENOENT
    st.ep = ep
    f["status"], f["actual_length"] = -EINPROGRESS, 0
    xfertype = usb_endpoint_type(ep.desc)
    length = f.get("transfer_buffer_length", 0)
    if xfertype == USB_ENDPOINT_XFER_CONTROL:
        setup = f.get("setup_packet")
        if is_null(setup):
            return -ENOEXEC
        request_type, w_length = _setup(setup)
        is_out = not request_type & USB_DIR_IN or not w_length
        if usb_pipeout(pipe) != is_out:
            kernel.usb.warn_once("ctrl dir", f"usb {dev.name}: BOGUS control dir, pipe {pipe:x} doesn't "
                                             f"match bRequestType {request_type:x}")
        if w_length != length:
            return -EBADR
    else:
        is_out = usb_endpoint_dir_out(ep.desc)
    st.dir_in = not is_out
    flags = int(f.get("transfer_flags", 0)) & ~URB_DIR_MASK | (0 if is_out else URB_DIR_IN)
    f["transfer_flags"] = flags
    maxp = usb_endpoint_maxp(ep.desc)
    if maxp <= 0:
        kernel.log.write(f"usb {dev.name}: bogus endpoint ep{pipe >> 15 & 0xF}{'out' if is_out else 'in'} "
                         f"in usb_submit_urb (bad maxpacket {maxp})")
        return -EMSGSIZE
    if not isinstance(length, int) or not 0 <= length <= INT_MAX:
        return -EMSGSIZE
    if usb_pipetype(pipe) != PIPETYPES[xfertype]:
        kernel.warn(_title(), f"usb {dev.name}: BOGUS urb xfer, pipe {usb_pipetype(pipe):x} != type "
                              f"{PIPETYPES[xfertype]:x} (a driver that did not check the endpoint's type)")
    allowed = URB_NO_TRANSFER_DMA_MAP | URB_NO_INTERRUPT | URB_DIR_MASK | URB_FREE_BUFFER
    if xfertype in (USB_ENDPOINT_XFER_BULK, USB_ENDPOINT_XFER_INT) and is_out:
        allowed |= URB_ZERO_PACKET
    allowed |= URB_ISO_ASAP if xfertype == USB_ENDPOINT_XFER_ISOC else 0 if is_out else URB_SHORT_NOT_OK
    if allowed & flags != flags:
        kernel.usb.warn_once("flags", f"usb {dev.name}: BOGUS urb flags, {flags:x} --> {allowed & flags:x}")
    if xfertype in (USB_ENDPOINT_XFER_ISOC, USB_ENDPOINT_XFER_INT) and int(f.get("interval", 0)) <= 0:
        return -EINVAL
    from .hcd import usb_hcd_submit_urb
    return usb_hcd_submit_urb(kernel, urb, st, ep)


def _setup(setup: Any) -> tuple[int, int]:
    """bRequestType and wLength of a control URB's setup packet (`struct usb_ctrlrequest`)."""
    return int(setup.bRequestType), int(setup.wLength)


def _title() -> Any:
    from . import titles
    return titles.USB_SUBMIT_URB


# -- cancelling (urb.c, hcd.c usb_hcd_unlink_urb) ------------------------------------------------
def usb_unlink_urb(urb: Buffer | None) -> int:
    """Asynchronous: the completion sees -ECONNRESET, soon (the next softirq)."""
    if urb is None or is_null(urb):
        return -EINVAL
    from .errno import ECONNRESET
    from .hcd import unlink
    kernel = current()
    st = urb_state(kernel, urb, "usb_unlink_urb")
    if is_null(urb._kb_fields.get("dev")):
        return -ENODEV
    if not st.use_count:
        return -EIDRM
    return unlink(kernel, urb, st, -ECONNRESET, wait=False)


def usb_kill_urb(urb: Buffer | None) -> None:
    """Cancels the URB and waits until its completion handler (status -ENOENT, if it
    was still in flight) has returned; resubmits meanwhile fail with -EPERM."""
    kernel = current()
    kernel.locking.might_sleep("usb_kill_urb")
    if urb is None or is_null(urb):
        return
    st = urb_state(kernel, urb, "usb_kill_urb")
    if is_null(urb._kb_fields.get("dev")) or st.ep is None:
        return
    st.reject += 1
    try:
        _cancel_and_wait(kernel, urb, st)
    finally:
        st.reject -= 1


def usb_poison_urb(urb: Buffer | None) -> None:
    """usb_kill_urb that stays: every later submit fails -EPERM until usb_unpoison_urb."""
    kernel = current()
    kernel.locking.might_sleep("usb_poison_urb")
    if urb is None or is_null(urb):
        return
    st = urb_state(kernel, urb, "usb_poison_urb")
    st.reject += 1
    if is_null(urb._kb_fields.get("dev")) or st.ep is None:
        return
    _cancel_and_wait(kernel, urb, st)


def usb_unpoison_urb(urb: Buffer | None) -> None:
    if not is_null(urb):
        urb_state(current(), urb, "usb_unpoison_urb").reject -= 1


def usb_block_urb(urb: Buffer | None) -> None:
    if not is_null(urb):
        urb_state(current(), urb, "usb_block_urb").reject += 1


def _cancel_and_wait(kernel: Kernel, urb: Buffer, st: UrbState) -> None:
    from .hcd import unlink
    unlink(kernel, urb, st, -ENOENT, wait=True)
    if st.use_count:  # its completion runs on another task: wait_event(usb_kill_urb_queue, ...)
        kernel.sched.block(Wait(f"usb_kill_urb: the completion of URB {id(urb):#x} runs",
                                lambda: not st.use_count))
    if kernel.kcsan is not None:  # the completion happens before the kill returns
        kernel.kcsan.acquire(st)


# -- coherent buffers (drivers/usb/core/buffer.c) -------------------------------------------------
def usb_alloc_coherent(dev: UsbDevice, size: int, mem_flags: int,
                       dma: list[Any] | None = None) -> Buffer | None:
    """A kmalloc-tracked Buffer; `dma` (a one-item list, or None) gets a dummy dma_addr_t."""
    kernel = current()
    buf = kernel.mm.alloc(size, mem_flags, "usb_alloc_coherent")
    if buf is not None and dma is not None:
        kernel.usb.dma += 0x1000
        dma[0] = kernel.usb.dma
    return buf


def usb_free_coherent(dev: UsbDevice, size: int, addr: Buffer | None, dma: object = 0) -> None:
    if is_null(addr):
        return
    kernel = current()
    kernel.sched.point("usb_free_coherent")
    kernel.mm.free(addr)


def usb_urb_dir_in(urb: Buffer) -> bool:
    return bool(int(urb.transfer_flags) & URB_DIR_IN)


def usb_urb_dir_out(urb: Buffer) -> bool:
    return not usb_urb_dir_in(urb)
