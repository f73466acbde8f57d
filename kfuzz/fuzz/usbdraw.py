"""What the fuzzer draws for a usb device: its endpoints at plug time, and its answers
to URBs. Mostly the default endpoints, as a device a driver expects; sometimes none,
some missing, of the wrong type or with an odd wMaxPacketSize, as syzkaller's USB
fuzzing describes devices; answers are mostly data, sometimes an error status."""

from __future__ import annotations

from functools import cache

from hypothesis import strategies as st

from ..kernel.usbdesc import (
    DEFAULT_ENDPOINTS,
    DEFAULT_INTERVAL,
    DEFAULT_SPECS,
    USB_ENDPOINT_XFER_BULK,
    USB_ENDPOINT_XFER_INT,
    USB_ENDPOINT_XFER_ISOC,
    Endpoints,
    EndpointSpec,
)
from ..prog.usbargs import URB_ERRORS
from ..prog.values import Data
from .choices import Draw, Mapped, OneOf, Pick

ODD_MAXP = [0, 1, 7, 8, 64, 512, 1023, 1024, 2048, 0xFFFF]
XFERS = [USB_ENDPOINT_XFER_BULK, USB_ENDPOINT_XFER_INT, USB_ENDPOINT_XFER_ISOC]
# a device the fuzzer did not plug (its endpoints unknown): the default set's, IN first
ENDPOINT_ADDRS = Pick([0x81] * 3 + [0x83] * 2 + [0x02, 0x04, 0x00, 0x82, 0x01])

_spec = st.builds(lambda xfer, dir_in, maxp: EndpointSpec(xfer, dir_in, maxp, DEFAULT_INTERVAL[xfer]),
                  st.sampled_from(XFERS), st.booleans(), st.sampled_from(ODD_MAXP))
_drawn = st.lists(_spec, max_size=4).map(lambda specs: Endpoints(tuple(specs)))
# the default set with one endpoint dropped: the driver's favourite missing
_missing = st.integers(0, len(DEFAULT_SPECS) - 1).map(
    lambda i: Endpoints(DEFAULT_SPECS[:i] + DEFAULT_SPECS[i + 1:]))
ENDPOINTS = st.one_of(*[st.just(DEFAULT_ENDPOINTS)] * 6, st.just(Endpoints(())), _missing, _drawn)


@cache
def endpoint_addrs(endpoints: Endpoints | None) -> Pick[int]:
    """An address of the device's own endpoints, IN ones (which wait for an answer)
    twice as often, or ep0's; any address of the default set for a device not known."""
    if endpoints is None:
        return ENDPOINT_ADDRS
    addrs = [d.bEndpointAddress for d in endpoints.descriptors()]
    return Pick([a for a in addrs if a & 0x80] * 2 + addrs + [0])


def replies(payloads: Draw[bytes]) -> Draw[Data | str]:
    """An URB's answer: data (a payload of the module's dictionary, or any), or a status."""
    errors: Draw[Data | str] = Pick(sorted(URB_ERRORS))
    data: Draw[Data | str] = Mapped(payloads, Data)
    return OneOf(data, data, data, errors)
