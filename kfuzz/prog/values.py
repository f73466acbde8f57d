"""The typed values of a program's arguments, read once when the program is read.

Integers and data remember how they were written, so a program prints back as
it was written; a value the minimizer makes prints in the plainest form.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel.device import DeviceId
from ..kernel.usbdesc import Endpoints


class Num(int):
    """An integer argument, with the spelling it was written in (`0x10`, `16`)."""

    text: str

    def __new__(cls, value: int, text: str | None = None) -> Num:
        self = super().__new__(cls, value)
        self.text = text if text is not None else (hex(value) if value > 255 else str(value))
        return self

    @classmethod
    def parse(cls, text: str) -> Num:
        return cls(int(text, 0), text)

    def __repr__(self) -> str:
        return self.text

    def __reduce__(self) -> tuple[type[Num], tuple[int, str]]:
        return Num, (int(self), self.text)


class Data(bytes):
    """A data argument: `"quoted"` with backslash escapes, or `x'hex'`."""

    text: str

    def __new__(cls, value: bytes, text: str | None = None) -> Data:
        self = super().__new__(cls, value)
        self.text = text if text is not None else format_data(value)
        return self

    @classmethod
    def parse(cls, text: str) -> Data:
        return cls(parse_data(text), text)

    def __repr__(self) -> str:
        return self.text

    def __reduce__(self) -> tuple[type[Data], tuple[bytes, str]]:
        return Data, (bytes(self), self.text)


@dataclass(frozen=True)
class Ref:
    """A name bound by an earlier `-> name`: an open file (`fd`) or a device (`dev`)."""

    name: str
    resource: str

    def __str__(self) -> str:
        return self.name


Params = tuple[tuple[str, str], ...]

# every value an argument kind reads: a number, data, a bound name, a word or
# path, a flag, parameters, a device id, a sysctl setting, a usb device's endpoints
ArgValue = Num | Data | bytes | Ref | str | bool | int | Params | DeviceId | tuple[str, str] | Endpoints
Setting = tuple[str, str]


def parse_data(text: str) -> bytes:
    """`"quoted"` with backslash escapes, or `x'68656c6c6f'`; ValueError otherwise."""
    if text.startswith("x'") and text.endswith("'") and len(text) >= 3:
        return bytes.fromhex(text[2:-1])
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1")
    raise ValueError(text)


def format_data(data: bytes) -> str:
    if all(32 <= b < 127 and b not in b'"\\' for b in data):
        return f'"{data.decode()}"'
    return f"x'{data.hex()}'"
