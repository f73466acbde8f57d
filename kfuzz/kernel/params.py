"""Module parameters as kernel/params.c sets them: ints by kstrtoint(val, 0), the
unsigned types by kstrtouint, kstrtoul, kstrtou16 and kstrtou8 (a value past the type
is -ERANGE, a sign is -EINVAL), bools by kstrtobool (lib/kstrtox.c), strings (str,
charp) as given, charp refusing one past 1024 bytes (-ENOSPC)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errno import EINVAL, ENOSPC, ERANGE

PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # as an insmod line can set it
ParamValue = int | bool | str  # a module parameter's value, of one of PARAM_TYPES
# the bits of each unsigned type (param_set_uint, _ulong, _ushort, _byte)
UNSIGNED = {"uint": 32, "ulong": 64, "ushort": 16, "byte": 8}
PARAM_TYPES: dict[str, type[int] | type[bool] | type[str]] = {
    "int": int, "bool": bool, "str": str, "charp": str, **{name: int for name in UNSIGNED}}
CHARP_MAX = 1024  # param_set_charp: a longer string is -ENOSPC
DIGITS = {c: v for v, c in enumerate("0123456789abcdef")}
ULLONG_LIMIT = 1 << 64
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1


class ParamError(ValueError):
    """A value the kernel refuses: `err` is -EINVAL (does not parse) or -ERANGE."""

    def __init__(self, err: int):
        super().__init__(err)
        self.err = err


def _kstrtoull(s: str, base: int) -> int:
    """_parse_integer_fixup_radix, _parse_integer and the tail check of _kstrtoull."""
    if base == 0:
        if s[:1] == "0":
            base = 16 if s[1:2].lower() == "x" and len(s) > 2 and s[2].lower() in DIGITS else 8
        else:
            base = 10
    if base == 16 and s[:2].lower() == "0x":
        s = s[2:]
    value, used = 0, 0
    for c in s:
        digit = DIGITS.get(c.lower(), base) if len(c.lower()) == 1 else base
        if digit >= base:
            break
        value, used = value * base + digit, used + 1
    if value >= ULLONG_LIMIT:  # KSTRTOX_OVERFLOW comes before the other checks
        raise ParamError(-ERANGE)
    rest = s[used:]
    if used == 0 or rest not in ("", "\n"):
        raise ParamError(-EINVAL)
    return value


def kstrtoll(s: str, base: int = 0) -> int:
    """An optional sign, then digits in `base` (0: `0x` hex, leading `0` octal, else
    decimal), then at most one newline."""
    if s[:1] == "-":
        value = _kstrtoull(s[1:], base)
        if value > 1 << 63:
            raise ParamError(-ERANGE)
        return -value
    value = _kstrtoull(s[1:] if s[:1] == "+" else s, base)
    if value >= 1 << 63:
        raise ParamError(-ERANGE)
    return value


def kstrtoint(s: str, base: int = 0) -> int:
    value = kstrtoll(s, base)
    if not INT_MIN <= value <= INT_MAX:
        raise ParamError(-ERANGE)
    return value


def kstrtou(s: str, bits: int) -> int:
    """kstrtoull (an optional `+`, no `-`), then the range of the type: kstrtouint & co."""
    value = _kstrtoull(s[1:] if s[:1] == "+" else s, 0)
    if value >> bits:
        raise ParamError(-ERANGE)
    return value


def kstrtobool(s: str) -> bool:
    """Only the first character counts (y/Y/1, n/N/0), or the first two for on/off."""
    first, second = s[:1], s[1:2].lower()
    if first in ("y", "Y", "1"):
        return True
    if first in ("n", "N", "0"):
        return False
    if first in ("o", "O") and second in ("n", "f"):
        return second == "n"
    raise ParamError(-EINVAL)


def parse_param(type_name: str, text: str) -> ParamValue:
    """A value as the insmod line gives it; ParamError where Linux refuses it."""
    if type_name == "int":
        return kstrtoint(text, 0)  # param_set_int
    if type_name == "bool":
        return kstrtobool(text)  # param_set_bool
    if type_name in UNSIGNED:
        return kstrtou(text, UNSIGNED[type_name])
    if type_name == "charp" and len(text.encode()) > CHARP_MAX:
        raise ParamError(-ENOSPC)
    return text  # param_set_charp


def in_range(type_name: str, value: object) -> bool:
    """Whether a default fits its type (an unsigned one holds no negative, nothing past its bits)."""
    bits = UNSIGNED.get(type_name)
    return bits is None or (type(value) is int and 0 <= value < 1 << bits)


def _param_type(name: str) -> type:
    """`module_param("n", uint, 5)`: a name module code writes for the type (it also parses)."""
    def parse(text: str) -> ParamValue:
        return parse_param(name, text)

    parse.__name__ = parse.__qualname__ = name
    return parse  # type: ignore[return-value]


uint, ulong, ushort, byte, charp = (_param_type(n) for n in ("uint", "ulong", "ushort", "byte", "charp"))


@dataclass(frozen=True)
class ParamInfo:
    name: str
    type: str
    default: ParamValue
    desc: str
    lineno: int

    def convert(self, text: str) -> ParamValue:
        return parse_param(self.type, text)
