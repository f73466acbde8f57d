"""The argument kinds of the USB device's operations: a plugged device's endpoints
(`plug usb 1d50:6001 bi512,ii8`) and a device's answer to an URB (`urb dev0 0x81
"data"` or `-EPROTO`). Parsed, printed, simplified and resolved as args.py's kinds."""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel.errno import ECONNRESET, EILSEQ, EOVERFLOW, EPIPE, EPROTO, ESHUTDOWN, ETIME
from ..kernel.usbdesc import DEFAULT_ENDPOINTS, Endpoints, parse_endpoints
from .args import ArgKind, DataArg, Mismatch
from .values import Data, Ref

# what a device or its host controller can answer instead of data
# (Documentation/driver-api/usb/error-codes.rst)
URB_ERRORS = {"-EPROTO": -EPROTO, "-EILSEQ": -EILSEQ, "-EPIPE": -EPIPE, "-ETIME": -ETIME,
              "-EOVERFLOW": -EOVERFLOW, "-ECONNRESET": -ECONNRESET, "-ESHUTDOWN": -ESHUTDOWN}


@dataclass(frozen=True)
class EndpointsArg(ArgKind[Endpoints]):
    """`[ENDPOINTS]` after a usb device's id, optional: without it the device has the
    default set (bi512,bo512,ii8,io8). The minimizer tries the default."""

    def parse(self, tokens: list[str], i: int) -> tuple[Endpoints, int]:
        if i >= len(tokens):
            return DEFAULT_ENDPOINTS, i
        if i < 2 or tokens[i - 2] != "usb":
            raise ValueError(f"'{tokens[i]}': endpoints are for a usb device only")
        return parse_endpoints(tokens[i]), i + 1

    def format(self, value: Endpoints) -> list[str]:
        text = value.format()
        return [text] if text else []

    def simpler(self, value: Endpoints) -> list[Endpoints]:
        return [] if value.default else [DEFAULT_ENDPOINTS]


@dataclass(frozen=True)
class UrbReplyArg(ArgKind[Data | str]):
    """`DATA` (quoted or x'hex') or an URB status (`-EPROTO`)."""

    def parse(self, tokens: list[str], i: int) -> tuple[Data | str, int]:
        if i >= len(tokens):
            raise Mismatch()
        word = tokens[i]
        if word.startswith("-"):
            if word not in URB_ERRORS:
                raise ValueError(f"unknown URB status '{word}' (known: {', '.join(URB_ERRORS)})")
            return word, i + 1
        return DataArg(self.usage).parse(tokens, i)

    def format(self, value: Data | str) -> list[str]:
        return [value] if isinstance(value, str) else DataArg(self.usage).format(value)

    def simpler(self, value: Data | str) -> list[Data | str]:
        if isinstance(value, str):
            return [Data(b"")]
        return list(DataArg(self.usage).simpler(value))  # type: ignore[arg-type]

    def resolve(self, value: Data | str, names: dict[str, object]) -> bytes | int:
        return URB_ERRORS[value] if isinstance(value, str) else bytes(value)


__all__ = ["URB_ERRORS", "EndpointsArg", "Ref", "UrbReplyArg"]
