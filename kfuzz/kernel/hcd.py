"""The host controller and the fuzzer's device: where URBs wait and complete
(drivers/usb/core/hcd.c usb_hcd_submit_urb, usb_hcd_giveback_urb, usb_hcd_flush_endpoint).

A submitted URB waits on its endpoint's queue until the device answers. The device
is the fuzzer's: the `urb devN EP DATA|-ERRNO` operation answers the oldest URB in
flight on the endpoint, or, when none is, is kept for the endpoint's next URB. What
no operation answers:

- an OUT or control URB completes by itself one jiffy after its submit (the device
  takes the data; a control IN gets zeroed data of the length it asked), on the
  kernel's clock, as a timer would: when every task sleeps, or at a `tick`;
- an IN URB (bulk, interrupt) stays in flight, a device with nothing to say, until an
  operation answers it or it is killed or flushed.

Completions run in softirq context, as most HCDs give URBs back (in BH): on the task
they interrupt (the `urb` operation's, a `tick`'s, the ksoftirqd task the scheduler
starts when every task sleeps, or a killer's), one at a time as the controller's giveback
BH runs them: a giveback on another task waits for the handler running to return. A
submit happens before its completion,
and the completion before usb_kill_urb returns (KCSAN). The device's DMA goes through
KASAN's eyes: data into a transfer buffer smaller than transfer_buffer_length, or freed
while the URB was in flight, is an out-of-bounds or use-after-free of the function that
submitted it; IN data longer than transfer_buffer_length is babble, -EOVERFLOW.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from . import titles
from .current import SOFTIRQ_OFFSET
from .device import Device
from .errno import (
    EBUSY,
    EIDRM,
    EINPROGRESS,
    EINVAL,
    ENODEV,
    ENOENT,
    ENOMEM,
    ENOSPC,
    EOVERFLOW,
    EPERM,
    EREMOTEIO,
    ESHUTDOWN,
)
from .faults import should_fail
from .frames import format_stack, module_stack
from .mm import Buffer
from .sched import Wait
from .timer import Timer
from .urb import URB_SHORT_NOT_OK, UrbState, is_null
from .usbdesc import USB_ENDPOINT_XFER_CONTROL, UsbHostEndpoint, usb_endpoint_type

if TYPE_CHECKING:
    from .core import Kernel
    from .usb import UsbInterface

HCD_DELAY = 1  # jiffies from a submit to the device's answer, when it has one
MAX_REPLIES = 16  # answers kept for an endpoint's next URBs
Reply = bytes | int | None  # data, a negative status, or None: the device's default


def put_urb(kernel: Kernel, urb: Buffer, st: UrbState) -> None:
    """usb_put_urb by the core: the last reference frees the URB."""
    st.refs -= 1
    if st.refs == 0:
        from .frames import Site
        kernel.mm.free(urb, Site("usbcore", "urb_destroy", "<kernel>", 0))


def usb_hcd_submit_urb(kernel: Kernel, urb: Buffer, st: UrbState, ep: UsbHostEndpoint) -> int:
    """The core takes its reference and links the URB to its endpoint (-EPERM while
    killed or poisoned, -ENOENT while the endpoint is disabled: an unbind's disconnect)."""
    st.refs += 1
    st.use_count += 1
    err = -ENOMEM if should_fail("usb_submit_urb") else -EPERM if st.reject else \
        -ENOENT if not ep.enabled else 0
    if err:
        st.use_count -= 1
        put_urb(kernel, urb, st)
        return err
    st.active, st.unlinked = True, 0
    st.stack = module_stack()
    ep.urb_list.append(urb)
    if kernel.kcsan is not None:  # the submit happens before the completion
        kernel.kcsan.release(st)
    if ep.replies:
        _answer_later(kernel, urb, st, ep.replies.pop(0), HCD_DELAY)
    elif not st.dir_in or usb_endpoint_type(ep.desc) == USB_ENDPOINT_XFER_CONTROL:
        _answer_later(kernel, urb, st, None, HCD_DELAY)
    return 0


def _answer_later(kernel: Kernel, urb: Buffer, st: UrbState, reply: Reply, delay: int) -> None:
    if st.timer is not None:
        kernel.timers.disarm(st.timer)
    st.timer = Timer(_due, data=(urb, reply), name="usb_hcd_giveback_urb")
    kernel.timers.arm(st.timer, kernel.jiffies + delay)


def _due(timer: Timer) -> None:
    """The device's answer falls due (in the timer softirq)."""
    urb, reply = timer.data
    timer.data = None
    kernel = _kernel()
    st = kernel.usb.urbs.get(urb)
    if st is not None and st.timer is timer and st.active:
        st.timer = None
        giveback(kernel, urb, st, reply)


def _kernel() -> Kernel:
    from .current import current
    return current()


@contextmanager
def softirq(kernel: Kernel) -> Iterator[None]:
    """Serving a softirq on the task it interrupts (unless it already is)."""
    task = kernel.task
    nested = task.serving_softirq
    if not nested:
        task.softirq += SOFTIRQ_OFFSET
    try:
        yield
    finally:
        if not nested:
            task.softirq -= SOFTIRQ_OFFSET


def giveback(kernel: Kernel, urb: Buffer, st: UrbState, reply: Reply) -> None:
    """__usb_hcd_giveback_urb: off the queue, the transfer done (or its unlink status),
    unanchored, then the driver's completion handler in softirq context; then the
    core's reference goes."""
    ep = st.ep
    st.active = False
    if ep is not None and urb in ep.urb_list:
        ep.urb_list.remove(urb)
    if st.timer is not None:
        kernel.timers.disarm(st.timer)
        st.timer.data, st.timer = None, None
    f = urb._kb_fields
    status, actual = (st.unlinked, 0) if st.unlinked else _transfer(kernel, urb, st, reply)
    if int(f.get("transfer_flags", 0)) & URB_SHORT_NOT_OK and actual < f.get("transfer_buffer_length", 0) \
            and not status:
        status = -EREMOTEIO
    f["actual_length"] = actual
    anchor = st.anchor
    if anchor is not None:
        anchor.suspend_wakeups += 1
        from .usbanchor import unanchor
        unanchor(kernel, urb, st)
    f["status"] = status
    usb = kernel.usb
    while usb.bh is not None and usb.bh is not kernel.task:  # another task's handler runs
        kernel.sched.block(Wait("usb_giveback_urb_bh", lambda: usb.bh is None))
    outer, usb.bh = usb.bh, kernel.task
    if kernel.kcsan is not None:  # one giveback BH: each handler happens before the next
        kernel.kcsan.acquire(st)
        kernel.kcsan.acquire(usb)
    st.running = kernel.task
    try:
        complete = f.get("complete")
        with softirq(kernel):
            if not callable(complete):
                kernel.report(titles.NULL_DEREF, "BUG: kernel NULL pointer dereference: the URB's "
                              "complete is NULL at its giveback", site=st.site, stack=st.stack)
            kernel.call(complete, urb)
    finally:
        st.running = None
        usb.bh = outer
        if anchor is not None:
            anchor.suspend_wakeups -= 1
        st.use_count -= 1
        if kernel.kcsan is not None:  # the completion happens before usb_kill_urb returns
            kernel.kcsan.release(st)
            kernel.kcsan.release(usb)
    put_urb(kernel, urb, st)


def _transfer(kernel: Kernel, urb: Buffer, st: UrbState, reply: Reply) -> tuple[int, int]:
    """The data stage: (status, actual_length)."""
    if isinstance(reply, int):
        return reply, 0
    f = urb._kb_fields
    length = int(f.get("transfer_buffer_length", 0))
    buf = f.get("transfer_buffer")
    if st.dir_in:
        data = bytes(length) if reply is None else bytes(reply)
        n = min(len(data), length)
        _dma(kernel, st, buf, n, data[:n], length)
        return (-EOVERFLOW if len(data) > length else 0), n
    _dma(kernel, st, buf, length, None, length)
    return 0, length


def _dma(kernel: Kernel, st: UrbState, buf: Any, n: int, data: bytes | None, length: int) -> None:
    """The controller reads (OUT) or writes (IN) n bytes of the transfer buffer; what
    KASAN would say of it is the submitting function's."""
    if n <= 0:
        return
    how = "wrote" if data is not None else "read"
    if is_null(buf):
        kernel.report(titles.NULL_DEREF, f"BUG: kernel NULL pointer dereference: the host controller {how} "
                      f"{n} bytes of a NULL transfer_buffer", site=st.site, stack=st.stack)
    if isinstance(buf, (bytes, bytearray)) and data is None and len(buf) >= n:
        return  # the driver handed plain bytes to send
    if not isinstance(buf, Buffer):
        kernel.report(titles.OOPS, f"Oops: the transfer_buffer is not kmalloc'd memory: {buf!r}",
                      site=st.site, stack=st.stack, exc="TypeError")
        return
    alloc, free = format_stack(buf._kb_alloc), format_stack(buf._kb_free or [])
    size = len(buf._kb_data)
    if buf._kb_free is not None:
        kernel.report(titles.USE_AFTER_FREE, f"use of freed memory: the host controller {how} {n} bytes of "
                      f"a {size}-byte transfer buffer freed while its URB was in flight",
                      site=st.site, stack=st.stack, alloc=alloc, free=free)
    if n > size:
        kernel.report(titles.OUT_OF_BOUNDS, f"access out of bounds: the host controller {how} {n} bytes "
                      f"of a {size}-byte transfer buffer (its URB's transfer_buffer_length is {length})",
                      site=st.site, stack=st.stack, alloc=alloc, free=free)
    if data is not None:
        buf._kb_data[:n] = data


def unlink(kernel: Kernel, urb: Buffer, st: UrbState, status: int, wait: bool) -> int:
    """usb_hcd_unlink_urb: an URB in flight is given back with `status`, at once when
    the caller will wait for it (kill, flush), else at the next softirq (-EINPROGRESS)."""
    if not st.active:
        return -EIDRM
    if st.unlinked:
        return -EBUSY
    st.unlinked = status
    if wait:
        giveback(kernel, urb, st, None)
        return 0
    _answer_later(kernel, urb, st, None, 0)
    return -EINPROGRESS


def flush_endpoint(kernel: Kernel, ep: UsbHostEndpoint) -> None:
    """usb_hcd_flush_endpoint: every URB on it given back with -ESHUTDOWN, the last
    submitted first, then a wait until the queue is empty."""
    while True:
        victim = next((u for u in reversed(ep.urb_list) if not kernel.usb.urbs[u].unlinked), None)
        if victim is None:
            break
        st = kernel.usb.urbs[victim]
        st.refs += 1
        unlink(kernel, victim, st, -ESHUTDOWN, wait=True)
        put_urb(kernel, victim, st)
    if ep.urb_list:
        kernel.sched.block(Wait("usb_hcd_flush_endpoint: URBs being unlinked", lambda: not ep.urb_list))


def usb_disable_interface(kernel: Kernel, intf: UsbInterface) -> None:
    """message.c: the interface's endpoints refuse submits and are flushed."""
    for ep in tuple.__iter__(intf.cur_altsetting.endpoint):
        ep.enabled = False
        flush_endpoint(kernel, ep)


def usb_enable_interface(intf: UsbInterface) -> None:
    for ep in tuple.__iter__(intf.cur_altsetting.endpoint):
        ep.enabled = True


def usb_device_answer(kernel: Kernel, dev: Device, address: int, reply: Reply) -> int:
    """`urb devN EP DATA|-ERRNO`: 1 when it completed the oldest URB in flight on the
    endpoint (in softirq context, on this task), 0 when it is kept for the next one."""
    if dev.bus != "usb" or not 0 <= address <= 0xFF:
        return -EINVAL
    if not dev.present:
        return -ENODEV
    ep = kernel.usb.device(dev).endpoint(address)
    if ep is None:
        return -EINVAL
    for urb in ep.urb_list:
        st = kernel.usb.urbs[urb]
        if st.active and not st.unlinked:
            giveback(kernel, urb, st, reply)
            return 1
    if len(ep.replies) >= MAX_REPLIES:
        return -ENOSPC
    ep.replies.append(reply)
    return 0
