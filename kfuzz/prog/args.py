"""Argument kinds: how one kind of argument is read, printed, simplified and resolved.

The operation table (ops.py) names a kind for each argument; the parser, the
printer, the minimizer, the runner and the state machine all work through it,
never per operation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..kernel.device import Device, DeviceId, parse_device_id
from ..kernel.errno import EBADF, ENODEV
from ..kernel.fs import O_ACCMODE, O_RDONLY, O_RDWR, O_WRONLY, OPEN_FLAGS, SETFL_FLAGS, File
from ..kernel.seek import WHENCES
from .values import Data, Num, Params, Ref

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
MODNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*$")
PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S*$")
SYSCTLS = ("kernel.modules_disabled", "kernel.panic_on_warn")
V = TypeVar("V")

# what a bound name holds, and the errno an operation on a name holding anything else gets
RESOURCES: dict[str, tuple[type, int]] = {"fd": (File, EBADF), "dev": (Device, ENODEV)}


class Unresolved(Exception):
    """A name that holds nothing usable now: the operation returns this errno."""

    def __init__(self, errno: int):
        super().__init__(errno)
        self.errno = errno


class Mismatch(ValueError):
    """The tokens do not fit the usage at all (the message is then the usage)."""


def _token(tokens: list[str], i: int) -> str:
    if i >= len(tokens):
        raise Mismatch()
    return tokens[i]


def or_names(parts: list[str], known: dict[str, int], what: str) -> int:
    """Names or numbers, or'ed: `O_RDONLY|O_NONBLOCK`, `SEEK_END`, `0x800`."""
    value = 0
    for part in parts:
        if part in known:
            value |= known[part]
            continue
        try:
            value |= int(part, 0)
        except ValueError:
            raise ValueError(f"unknown {what} '{part}' (known: {', '.join(known)})") from None
    return value


@dataclass(frozen=True)
class ArgKind(Generic[V]):
    """One argument of an operation. `role` tells the state machine what to draw."""

    usage: str
    role: str = ""

    def parse(self, tokens: list[str], i: int) -> tuple[V, int]:
        raise NotImplementedError

    def format(self, value: V) -> list[str]:
        return [str(value)]

    def refs(self, value: V) -> list[Ref]:
        return []

    def simpler(self, value: V) -> list[V]:
        """Plainer values to try, plainest first (none by default)."""
        return []

    def resolve(self, value: V, names: dict[str, object]) -> object:
        """The plain value the kernel handler takes."""
        return value


@dataclass(frozen=True)
class Int(ArgKind[Num]):
    """An integer, `0x` allowed. With `plain`, the minimizer tries 0 and 1."""

    minimum: int | None = None
    plain: bool = True

    def parse(self, tokens: list[str], i: int) -> tuple[Num, int]:
        try:
            value = Num.parse(_token(tokens, i))
        except ValueError:
            raise Mismatch() from None
        if self.minimum is not None and value < self.minimum:
            raise Mismatch()
        return value, i + 1

    def format(self, value: Num) -> list[str]:
        return [value.text if isinstance(value, Num) else str(value)]

    def simpler(self, value: Num) -> list[Num]:
        if not self.plain or value == 0:
            return []
        return [Num(0)] if value == 1 else [Num(0), Num(1)]

    def resolve(self, value: Num, names: dict[str, object]) -> int:
        return int(value)


@dataclass(frozen=True)
class DataArg(ArgKind[bytes]):
    def parse(self, tokens: list[str], i: int) -> tuple[Data, int]:
        text = _token(tokens, i)
        try:
            return Data.parse(text), i + 1
        except ValueError:
            raise ValueError(f"bad DATA {text}: write a quoted string or x'hex'") from None

    def format(self, value: bytes) -> list[str]:
        return [value.text if isinstance(value, Data) else Data(value).text]

    def simpler(self, value: bytes) -> list[bytes]:
        """The data cut to one byte, then to half of itself."""
        return [Data(value[:n]) for n in sorted({1, len(value) // 2}) if n < len(value)]

    def resolve(self, value: bytes, names: dict[str, object]) -> bytes:
        return bytes(value)


@dataclass(frozen=True)
class IoctlArg(ArgKind[Num | bytes]):
    """An ioctl's argument: an integer, or a user buffer written as data (`"..."`,
    `x'hex'`) whose address the driver gets."""

    def parse(self, tokens: list[str], i: int) -> tuple[Num | bytes, int]:
        text = _token(tokens, i)
        if text.startswith(('"', "x'")):
            return DataArg(self.usage).parse(tokens, i)
        return Int(self.usage).parse(tokens, i)

    def format(self, value: Num | bytes) -> list[str]:
        if isinstance(value, bytes):
            return DataArg(self.usage).format(value)
        return Int(self.usage).format(value)

    def simpler(self, value: Num | bytes) -> list[Num | bytes]:
        if isinstance(value, bytes):  # zeroed first: the same size, plainer bytes
            zero = Data(bytes(len(value)))
            return [zero] if zero != value else []
        return list(Int(self.usage).simpler(value))

    def resolve(self, value: Num | bytes, names: dict[str, object]) -> int | bytes:
        return bytes(value) if isinstance(value, bytes) else int(value)


@dataclass(frozen=True)
class NamedInt(ArgKind[Num]):
    """An integer that has names (`SEEK_END`, `O_NONBLOCK|FASYNC`): names joined by `|`
    or numbers, printed by name."""

    names: tuple[tuple[str, int], ...] = ()
    bits: bool = False  # flags: several names or'ed

    def parse(self, tokens: list[str], i: int) -> tuple[Num, int]:
        word = _token(tokens, i)
        parts = word.split("|") if self.bits else [word]
        return Num(or_names(parts, dict(self.names), self.usage), word), i + 1

    def format(self, value: Num) -> list[str]:
        if isinstance(value, Num) and value.text:
            return [value.text]
        for name, v in self.names:
            if v == value and not self.bits:
                return [name]
        return [str(int(value))]

    def simpler(self, value: Num) -> list[Num]:
        return [Num(0)] if value != 0 else []


WHENCE_NAMES = tuple(WHENCES.items())
SETFL_NAMES = tuple(SETFL_FLAGS.items())


@dataclass(frozen=True)
class Word(ArgKind[str]):
    """A word matching a pattern (a module name), or one of a fixed set."""

    pattern: re.Pattern[str] | None = None
    choices: tuple[str, ...] = ()
    what: str = ""

    def parse(self, tokens: list[str], i: int) -> tuple[str, int]:
        word = _token(tokens, i)
        if self.choices and word not in self.choices:
            if self.what:
                raise ValueError(f"unknown {self.what} '{word}' (known: {', '.join(self.choices)})")
            raise Mismatch()
        if self.pattern is not None and not self.pattern.match(word):
            raise Mismatch()
        return word, i + 1


@dataclass(frozen=True)
class PathArg(ArgKind[str]):
    def parse(self, tokens: list[str], i: int) -> tuple[str, int]:
        word = _token(tokens, i)
        if not word.startswith(("/dev/", "/proc/")):
            raise Mismatch()
        return word, i + 1


@dataclass(frozen=True)
class ParamsArg(ArgKind[Params]):
    """`key=value ...` to the end of the operation; values stay text, as the kernel parses them."""

    def parse(self, tokens: list[str], i: int) -> tuple[Params, int]:
        out = []
        for word in tokens[i:]:
            if not PARAM.match(word):
                raise ValueError(f"bad parameter '{word}', parameters are key=value")
            key, _, value = word.partition("=")
            out.append((key, value))
        return tuple(out), len(tokens)

    def format(self, value: Params) -> list[str]:
        return [f"{k}={v}" for k, v in value]

    def resolve(self, value: Params, names: dict[str, object]) -> dict[str, str]:
        return dict(value)


@dataclass(frozen=True)
class Flag(ArgKind[bool]):
    """An optional word such as `-f`; its value is whether it was given."""

    word: str = ""
    fuzzed: bool = True

    def parse(self, tokens: list[str], i: int) -> tuple[bool, int]:
        if i < len(tokens) and tokens[i] == self.word:
            return True, i + 1
        return False, i

    def format(self, value: bool) -> list[str]:
        return [self.word] if value else []

    def simpler(self, value: bool) -> list[bool]:
        return [False] if value else []


@dataclass(frozen=True)
class OpenFlags(ArgKind[int]):
    """`O_RDONLY|O_NONBLOCK` after an open's path, optional: without it the file is
    opened O_RDWR, as every program before flags did. A number is taken too."""

    def parse(self, tokens: list[str], i: int) -> tuple[int, int]:
        if i >= len(tokens):
            return O_RDWR, i
        return or_names(tokens[i].split("|"), OPEN_FLAGS, "open flag"), i + 1

    def format(self, value: int) -> list[str]:
        if value == O_RDWR:
            return []
        names = [name for name, bit in OPEN_FLAGS.items() if bit and value & bit == bit
                 and name not in ("O_RDONLY", "O_RDWR", "O_WRONLY")]
        access = {O_RDONLY: "O_RDONLY", O_WRONLY: "O_WRONLY", O_RDWR: "O_RDWR"}.get(value & O_ACCMODE)
        rest = value & ~O_ACCMODE & ~sum(OPEN_FLAGS[n] for n in names)
        words = [access or hex(value & O_ACCMODE), *names] + ([hex(rest)] if rest else [])
        return ["|".join(words)]

    def simpler(self, value: int) -> list[int]:
        return [O_RDWR] if value != O_RDWR else []


@dataclass(frozen=True)
class DeviceIdArg(ArgKind[DeviceId]):
    """`BUS ID`: two words, `pci 8086:1234`, `usb 046d:c52b`, `platform NAME`."""

    def parse(self, tokens: list[str], i: int) -> tuple[DeviceId, int]:
        bus, text = _token(tokens, i), _token(tokens, i + 1)
        return parse_device_id(bus, text), i + 2

    def format(self, value: DeviceId) -> list[str]:
        return [value.bus, value.format()]


@dataclass(frozen=True)
class SettingArg(ArgKind[tuple[str, str]]):
    """`NAME VALUE` of a sysctl; the value stays text, as the kernel parses it."""

    names: tuple[str, ...] = SYSCTLS
    values: tuple[str, ...] = ("0", "1")

    def parse(self, tokens: list[str], i: int) -> tuple[tuple[str, str], int]:
        name, value = _token(tokens, i), _token(tokens, i + 1)
        if name not in self.names:
            raise ValueError(f"unknown sysctl '{name}' (known: {', '.join(self.names)})")
        if value not in self.values:
            raise Mismatch()
        return (name, value), i + 2

    def format(self, value: tuple[str, str]) -> list[str]:
        return list(value)


@dataclass(frozen=True)
class Use(ArgKind[Ref]):
    """A name an earlier operation bound (`fd0`, `dev0`). With `consumes`, the
    operation ends what the name holds (close, unplug)."""

    resource: str = "fd"
    consumes: bool = False

    def parse(self, tokens: list[str], i: int) -> tuple[Ref, int]:
        word = _token(tokens, i)
        if not NAME.match(word):
            raise Mismatch()
        return Ref(word, self.resource), i + 1

    def refs(self, value: Ref) -> list[Ref]:
        return [value]

    def resolve(self, value: Ref, names: dict[str, object]) -> object:
        cls, errno = RESOURCES[self.resource]
        obj = names.get(value.name)
        if not isinstance(obj, cls):
            raise Unresolved(-errno)
        return obj


@dataclass(frozen=True)
class Line(ArgKind[Num | Ref]):
    """An interrupt line: a number, or a device (`devN`) whose line it is."""

    def parse(self, tokens: list[str], i: int) -> tuple[Num | Ref, int]:
        word = _token(tokens, i)
        if NAME.match(word):
            return Ref(word, "dev"), i + 1
        return Int(self.usage, minimum=0).parse(tokens, i)

    def format(self, value: Num | Ref) -> list[str]:
        return [value.name] if isinstance(value, Ref) else Int(self.usage).format(value)

    def refs(self, value: Num | Ref) -> list[Ref]:
        return [value] if isinstance(value, Ref) else []

    def resolve(self, value: Num | Ref, names: dict[str, object]) -> int:
        if isinstance(value, Ref):
            dev = Use("devN", resource="dev").resolve(value, names)
            assert isinstance(dev, Device)  # resolve() returns only what the name's resource holds
            return int(dev.irq)
        return int(value)
