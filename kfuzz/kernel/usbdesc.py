"""USB descriptors: an interface's endpoints, the usb_endpoint_* helpers, and the
`plug` word that says which endpoints a device has.

Fields and helpers are Linux's (include/uapi/linux/usb/ch9.h, include/linux/usb.h,
drivers/usb/core/usb.c `usb_find_common_endpoints`). The device is the fuzzer's:
it chooses the endpoints at plug time, as syzkaller's USB fuzzing does, so a
driver that trusts a descriptor it should check meets one that is missing, of the
wrong type or with an odd wMaxPacketSize.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import titles
from .current import current
from .errno import ENXIO
from .frames import module_stack

# include/uapi/linux/usb/ch9.h
USB_DIR_OUT = 0
USB_DIR_IN = 0x80
USB_DT_DEVICE = 0x01
USB_DT_INTERFACE = 0x04
USB_DT_ENDPOINT = 0x05
USB_DT_ENDPOINT_SIZE = 7
USB_DT_INTERFACE_SIZE = 9
USB_ENDPOINT_NUMBER_MASK = 0x0F
USB_ENDPOINT_DIR_MASK = 0x80
USB_ENDPOINT_XFERTYPE_MASK = 0x03
USB_ENDPOINT_XFER_CONTROL = 0
USB_ENDPOINT_XFER_ISOC = 1
USB_ENDPOINT_XFER_BULK = 2
USB_ENDPOINT_XFER_INT = 3
USB_ENDPOINT_MAXP_MASK = 0x07FF
USB_CLASS_VENDOR_SPEC = 0xFF


@dataclass(eq=False)
class UsbEndpointDescriptor:
    """`struct usb_endpoint_descriptor`."""

    bEndpointAddress: int = 0  # noqa: N815 - Linux's field names
    bmAttributes: int = 0  # noqa: N815
    wMaxPacketSize: int = 0  # noqa: N815
    bInterval: int = 0  # noqa: N815
    bLength: int = USB_DT_ENDPOINT_SIZE  # noqa: N815
    bDescriptorType: int = USB_DT_ENDPOINT  # noqa: N815


@dataclass(eq=False)
class UsbHostEndpoint:
    """`struct usb_host_endpoint`: the descriptor, and the host controller's queue of
    URBs on it (`urb_list`, drivers/usb/core/hcd.c). `replies` is kfuzz's: what the
    fuzzer's device will answer to the next URBs (kernel/hcd.py)."""

    desc: UsbEndpointDescriptor
    enabled: bool = True
    urb_list: list[Any] = field(default_factory=list)
    replies: list[bytes | int | None] = field(default_factory=list)


@dataclass(eq=False)
class UsbInterfaceDescriptor:
    """`struct usb_interface_descriptor`."""

    bNumEndpoints: int = 0  # noqa: N815
    bInterfaceNumber: int = 0  # noqa: N815
    bAlternateSetting: int = 0  # noqa: N815
    bInterfaceClass: int = USB_CLASS_VENDOR_SPEC  # noqa: N815
    bInterfaceSubClass: int = 0  # noqa: N815
    bInterfaceProtocol: int = 0  # noqa: N815
    iInterface: int = 0  # noqa: N815
    bLength: int = USB_DT_INTERFACE_SIZE  # noqa: N815
    bDescriptorType: int = USB_DT_INTERFACE  # noqa: N815


class EndpointArray(tuple[UsbHostEndpoint, ...]):
    """`alt->endpoint`: bNumEndpoints entries, kcalloc'd by usb_parse_interface
    (drivers/usb/core/config.c). An index past the end is what KASAN reports, a
    slab-out-of-bounds read; into an array of no endpoints it dereferences
    ZERO_SIZE_PTR, a NULL-pointer oops. Either is the driver's, at its line."""

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int) and not 0 <= index < len(self):
            kernel = current()
            stack = module_stack(sys._getframe(1))
            if not len(self):
                kernel.report(titles.NULL_DEREF,
                              "BUG: kernel NULL pointer dereference, address: 0000000000000010\n"
                              f"endpoint[{index}] of an interface with no endpoints (bNumEndpoints 0: "
                              "the array is ZERO_SIZE_PTR); check bNumEndpoints or use "
                              "usb_find_common_endpoints()", stack=stack)
            kernel.report(titles.OUT_OF_BOUNDS,
                          f"access out of bounds: endpoint[{index}] of an interface with "
                          f"{len(self)} endpoint(s) (bNumEndpoints {len(self)})", stack=stack)
        return super().__getitem__(index)


@dataclass(eq=False)
class UsbHostInterface:
    """`struct usb_host_interface`: one altsetting, its descriptor and endpoints."""

    desc: UsbInterfaceDescriptor
    endpoint: EndpointArray


# -- the usb_endpoint_* helpers (include/uapi/linux/usb/ch9.h, include/linux/usb.h) ---------
def usb_endpoint_num(epd: UsbEndpointDescriptor) -> int:
    return epd.bEndpointAddress & USB_ENDPOINT_NUMBER_MASK


def usb_endpoint_type(epd: UsbEndpointDescriptor) -> int:
    return epd.bmAttributes & USB_ENDPOINT_XFERTYPE_MASK


def usb_endpoint_dir_in(epd: UsbEndpointDescriptor) -> bool:
    return (epd.bEndpointAddress & USB_ENDPOINT_DIR_MASK) == USB_DIR_IN


def usb_endpoint_dir_out(epd: UsbEndpointDescriptor) -> bool:
    return (epd.bEndpointAddress & USB_ENDPOINT_DIR_MASK) == USB_DIR_OUT


def usb_endpoint_xfer_bulk(epd: UsbEndpointDescriptor) -> bool:
    return usb_endpoint_type(epd) == USB_ENDPOINT_XFER_BULK


def usb_endpoint_xfer_control(epd: UsbEndpointDescriptor) -> bool:
    return usb_endpoint_type(epd) == USB_ENDPOINT_XFER_CONTROL


def usb_endpoint_xfer_int(epd: UsbEndpointDescriptor) -> bool:
    return usb_endpoint_type(epd) == USB_ENDPOINT_XFER_INT


def usb_endpoint_xfer_isoc(epd: UsbEndpointDescriptor) -> bool:
    return usb_endpoint_type(epd) == USB_ENDPOINT_XFER_ISOC


def usb_endpoint_is_bulk_in(epd: UsbEndpointDescriptor) -> bool:
    return usb_endpoint_xfer_bulk(epd) and usb_endpoint_dir_in(epd)


def usb_endpoint_is_bulk_out(epd: UsbEndpointDescriptor) -> bool:
    return usb_endpoint_xfer_bulk(epd) and usb_endpoint_dir_out(epd)


def usb_endpoint_is_int_in(epd: UsbEndpointDescriptor) -> bool:
    return usb_endpoint_xfer_int(epd) and usb_endpoint_dir_in(epd)


def usb_endpoint_is_int_out(epd: UsbEndpointDescriptor) -> bool:
    return usb_endpoint_xfer_int(epd) and usb_endpoint_dir_out(epd)


def usb_endpoint_is_isoc_in(epd: UsbEndpointDescriptor) -> bool:
    return usb_endpoint_xfer_isoc(epd) and usb_endpoint_dir_in(epd)


def usb_endpoint_is_isoc_out(epd: UsbEndpointDescriptor) -> bool:
    return usb_endpoint_xfer_isoc(epd) and usb_endpoint_dir_out(epd)


def usb_endpoint_maxp(epd: UsbEndpointDescriptor) -> int:
    """The max packet size, bits 10..0 of wMaxPacketSize (high-bandwidth bits masked)."""
    return epd.wMaxPacketSize & USB_ENDPOINT_MAXP_MASK


def usb_endpoint_maxp_mult(epd: UsbEndpointDescriptor) -> int:
    return ((epd.wMaxPacketSize >> 11) & 3) + 1


# -- usb_find_common_endpoints (drivers/usb/core/usb.c) ----------------------------------------
# An out-parameter `struct usb_endpoint_descriptor **bulk_in` is a one-item list (`*p` is
# `p[0]`); NULL is None.
Out = list[Any] | None


def _match(epd: UsbEndpointDescriptor, bulk_in: Out, bulk_out: Out, int_in: Out, int_out: Out) -> bool:
    """match_endpoint: fills the first free slot the endpoint fits; True when all are filled."""
    kind = usb_endpoint_type(epd)
    if kind not in (USB_ENDPOINT_XFER_BULK, USB_ENDPOINT_XFER_INT):
        return False
    slots = (bulk_in, bulk_out) if kind == USB_ENDPOINT_XFER_BULK else (int_in, int_out)
    slot = slots[0] if usb_endpoint_dir_in(epd) else slots[1]
    if slot is None or slot[0] is not None:
        return False
    slot[0] = epd
    return all(p is None or p[0] is not None for p in (bulk_in, bulk_out, int_in, int_out))


def _find(alt: UsbHostInterface, order: Iterable[int], bulk_in: Out, bulk_out: Out,
          int_in: Out, int_out: Out) -> int:
    for p in (bulk_in, bulk_out, int_in, int_out):
        if p is not None:
            p[0] = None
    for i in order:
        if _match(alt.endpoint[i].desc, bulk_in, bulk_out, int_in, int_out):
            return 0
    return -ENXIO


def usb_find_common_endpoints(alt: UsbHostInterface, bulk_in: Out = None, bulk_out: Out = None,
                              int_in: Out = None, int_out: Out = None) -> int:
    """0 when every slot given got an endpoint (the first of its kind), else -ENXIO."""
    return _find(alt, range(alt.desc.bNumEndpoints), bulk_in, bulk_out, int_in, int_out)


def usb_find_common_endpoints_reverse(alt: UsbHostInterface, bulk_in: Out = None, bulk_out: Out = None,
                                      int_in: Out = None, int_out: Out = None) -> int:
    """As usb_find_common_endpoints, the last endpoint of each kind."""
    return _find(alt, reversed(range(alt.desc.bNumEndpoints)), bulk_in, bulk_out, int_in, int_out)


def usb_find_bulk_in_endpoint(alt: UsbHostInterface, bulk_in: Out) -> int:
    return usb_find_common_endpoints(alt, bulk_in, None, None, None)


def usb_find_bulk_out_endpoint(alt: UsbHostInterface, bulk_out: Out) -> int:
    return usb_find_common_endpoints(alt, None, bulk_out, None, None)


def usb_find_int_in_endpoint(alt: UsbHostInterface, int_in: Out) -> int:
    return usb_find_common_endpoints(alt, None, None, int_in, None)


def usb_find_int_out_endpoint(alt: UsbHostInterface, int_out: Out) -> int:
    return usb_find_common_endpoints(alt, None, None, None, int_out)


def usb_find_last_bulk_in_endpoint(alt: UsbHostInterface, bulk_in: Out) -> int:
    return usb_find_common_endpoints_reverse(alt, bulk_in, None, None, None)


def usb_find_last_int_in_endpoint(alt: UsbHostInterface, int_in: Out) -> int:
    return usb_find_common_endpoints_reverse(alt, None, None, int_in, None)


def usb_find_last_int_out_endpoint(alt: UsbHostInterface, int_out: Out) -> int:
    return usb_find_common_endpoints_reverse(alt, None, None, None, int_out)


# -- the endpoints word of `plug usb VVVV:PPPP [ENDPOINTS]` --------------------------------------
# TYPE DIR MAXP[@INTERVAL], comma-separated, numbered 1, 2, ... in order; or `none`.
XFER_LETTERS = {"b": USB_ENDPOINT_XFER_BULK, "i": USB_ENDPOINT_XFER_INT, "s": USB_ENDPOINT_XFER_ISOC}
LETTER_OF = {v: k for k, v in XFER_LETTERS.items()}
DEFAULT_INTERVAL = {USB_ENDPOINT_XFER_BULK: 0, USB_ENDPOINT_XFER_INT: 1, USB_ENDPOINT_XFER_ISOC: 1}
MAX_ENDPOINTS = 15
EP_WORD = re.compile(r"([bis])([io])(0|[1-9][0-9]*)(?:@(0|[1-9][0-9]*))?$")
SYNTAX = ("an endpoint is TYPE DIR MAXP[@INTERVAL]: TYPE b (bulk), i (interrupt) or s (isochronous), "
          "DIR i (in) or o (out), MAXP 0..65535, INTERVAL 0..255; endpoints are comma-separated "
          "(bi512,bo512,ii8), or 'none'")


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint as the fuzzer's device describes it."""

    xfer: int
    dir_in: bool
    maxp: int
    interval: int

    def format(self) -> str:
        word = f"{LETTER_OF[self.xfer]}{'i' if self.dir_in else 'o'}{self.maxp}"
        return word if self.interval == DEFAULT_INTERVAL[self.xfer] else f"{word}@{self.interval}"


@dataclass(frozen=True)
class Endpoints:
    """The endpoints of a plugged device's interface. `specs` None is the default set
    (the word left out); `text` is the word as written, so a program prints back as it
    was written."""

    specs: tuple[EndpointSpec, ...] | None = None
    text: str = field(default="", compare=False)

    @property
    def default(self) -> bool:
        return self.specs is None

    def format(self) -> str:
        if self.specs is None:
            return ""
        return self.text or (",".join(s.format() for s in self.specs) if self.specs else "none")

    def descriptors(self) -> list[UsbEndpointDescriptor]:
        """Endpoint k (from 1) of the list gets address k, with the IN bit for `i`."""
        specs = DEFAULT_SPECS if self.specs is None else self.specs
        return [UsbEndpointDescriptor(bEndpointAddress=n | (USB_DIR_IN if s.dir_in else USB_DIR_OUT),
                                      bmAttributes=s.xfer, wMaxPacketSize=s.maxp, bInterval=s.interval)
                for n, s in enumerate(specs, 1)]


def parse_endpoints(word: str) -> Endpoints:
    """The `plug` word: `none`, or `bi512,bo512,ii8`; ValueError naming the bad part."""
    if word == "none":
        return Endpoints((), word)
    specs = []
    for part in word.split(","):
        m = EP_WORD.match(part)
        if not m:
            raise ValueError(f"bad endpoint '{part}' in '{word}': {SYNTAX}")
        xfer, maxp = XFER_LETTERS[m.group(1)], int(m.group(3))
        interval = int(m.group(4)) if m.group(4) is not None else DEFAULT_INTERVAL[xfer]
        if maxp > 0xFFFF or interval > 0xFF:
            raise ValueError(f"bad endpoint '{part}' in '{word}': MAXP is 0..65535 (wMaxPacketSize), "
                             f"INTERVAL 0..255 (bInterval)")
        specs.append(EndpointSpec(xfer, m.group(2) == "i", maxp, interval))
    if len(specs) > MAX_ENDPOINTS:
        raise ValueError(f"'{word}' has {len(specs)} endpoints; an interface has at most {MAX_ENDPOINTS} "
                         "here (numbers 1..15)")
    return Endpoints(tuple(specs), word)


# bulk-in, bulk-out, interrupt-in, interrupt-out: 0x81, 0x02, 0x83, 0x04
DEFAULT_SPECS = parse_endpoints("bi512,bo512,ii8,io8").specs or ()
DEFAULT_ENDPOINTS = Endpoints()
