"""Synchronous transfers (drivers/usb/core/message.c): usb_control_msg, usb_bulk_msg
and usb_interrupt_msg submit an URB of their own and sleep until it completes or
the timeout (ms, 0 for none) passes, when the URB is killed and they return
-ETIMEDOUT. A control transfer gets the fuzzer's device's answer (kernel/hcd.py:
by default success, an IN one zeroed data of the length it asked); a bulk or
interrupt IN one waits for an `urb` operation's data. usb_string reads a string
descriptor, of which the fuzzer's device has none.
"""

from __future__ import annotations

from typing import Any

from .completion import Completion, complete, wait_for_completion, wait_for_completion_timeout
from .current import current
from .errno import EINVAL, ENOENT, ENOMEM, EPIPE, ETIMEDOUT
from .mm import GFP_KERNEL, Buffer
from .timer import msecs_to_jiffies
from .urb import (
    GFP_NOIO,
    PIPE_INTERRUPT,
    is_null,
    usb_alloc_urb,
    usb_fill_bulk_urb,
    usb_fill_control_urb,
    usb_fill_int_urb,
    usb_free_urb,
    usb_kill_urb,
    usb_pipe_endpoint,
    usb_submit_urb,
)
from .usb import UsbDevice
from .usbdesc import USB_ENDPOINT_XFER_INT, usb_endpoint_type


class _ApiContext:
    """`struct api_context`: the kernel's own, never module memory."""

    def __init__(self) -> None:
        self.done = Completion()
        self.status = 0


def _blocking_completion(urb: Buffer) -> None:
    """usb_api_blocking_completion."""
    ctx = urb._kb_fields["context"]
    ctx.status = urb._kb_fields["status"]
    complete(ctx.done)


def _start_wait_urb(urb: Buffer, timeout: int, actual_length: list[Any] | None) -> int:
    """usb_start_wait_urb: submit, wait, kill on timeout; the URB is freed either way."""
    ctx = _ApiContext()
    urb._kb_fields["context"] = ctx
    urb._kb_fields["actual_length"] = 0
    retval = usb_submit_urb(urb, GFP_NOIO)
    if retval == 0:
        if not timeout:
            wait_for_completion(ctx.done)
            retval = ctx.status
        elif not wait_for_completion_timeout(ctx.done, msecs_to_jiffies(timeout)):
            usb_kill_urb(urb)
            retval = -ETIMEDOUT if ctx.status == -ENOENT else ctx.status
        else:
            retval = ctx.status
    if actual_length is not None:
        actual_length[0] = urb._kb_fields.get("actual_length", 0)
    usb_free_urb(urb)
    return int(retval)


def usb_control_msg(dev: UsbDevice, pipe: int, request: int, requesttype: int, value: int, index: int,
                    data: Any, size: int, timeout: int) -> int:
    """The bytes transferred, or -errno."""
    kernel = current()
    kernel.locking.might_sleep("usb_control_msg")
    dr = kernel.mm.alloc(8, GFP_NOIO, "kmalloc")
    if dr is None:
        return -ENOMEM
    for name, v in (("bRequestType", requesttype & 0xFF), ("bRequest", request & 0xFF),
                    ("wValue", value & 0xFFFF), ("wIndex", index & 0xFFFF), ("wLength", size & 0xFFFF)):
        dr._kb_fields[name] = v
    urb = usb_alloc_urb(0, GFP_NOIO)
    if urb is None:
        kernel.mm.free(dr)
        return -ENOMEM
    usb_fill_control_urb(urb, dev, pipe, dr, data, size & 0xFFFF, _blocking_completion, None)
    length: list[Any] = [0]
    ret = _start_wait_urb(urb, timeout, length)
    kernel.mm.free(dr)
    return ret if ret < 0 else int(length[0])


def usb_bulk_msg(usb_dev: UsbDevice, pipe: int, data: Any, len: int,  # noqa: A002 - Linux's name
                 actual_length: list[Any] | None, timeout: int) -> int:
    """0 or -errno; `actual_length` (a one-item list, or None) gets the bytes moved. On
    an interrupt endpoint it is an interrupt transfer, as Linux does."""
    current().locking.might_sleep("usb_bulk_msg")
    ep = usb_pipe_endpoint(usb_dev, pipe)
    if ep is None or len < 0:
        return -EINVAL
    urb = usb_alloc_urb(0, GFP_KERNEL)
    if urb is None:
        return -ENOMEM
    if usb_endpoint_type(ep.desc) == USB_ENDPOINT_XFER_INT:
        pipe = (pipe & ~(3 << 30)) | (PIPE_INTERRUPT << 30)
        usb_fill_int_urb(urb, usb_dev, pipe, data, len, _blocking_completion, None, ep.desc.bInterval)
    else:
        usb_fill_bulk_urb(urb, usb_dev, pipe, data, len, _blocking_completion, None)
    return _start_wait_urb(urb, timeout, actual_length)


usb_interrupt_msg = usb_bulk_msg


def usb_string(dev: UsbDevice, index: int, buf: Any, size: int) -> int:
    """The string descriptor `index` as ASCII into `buf` (a Buffer or bytearray): its
    length, or -errno. As message.c: -EINVAL for no buffer or an index out of 1..255
    (index 0 is a descriptor's "no string", as every index of the fuzzer's device is),
    `buf[0]` set to NUL first; the device has no string descriptors, so reading the
    language ids fails (usb_get_langid: "string descriptor 0 read error") and any
    other index is -EPIPE."""
    current().locking.might_sleep("usb_string")
    if size <= 0 or is_null(buf):
        return -EINVAL
    buf[0] = 0
    if index <= 0 or index >= 256:
        return -EINVAL
    current().log.write(f"usb {dev.name}: string descriptor 0 read error: {-EPIPE}")
    return -EPIPE
