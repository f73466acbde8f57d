"""printf-style formatting as lib/vsprintf.c does it, for printk and dev_printk.

The conversions drivers use: %d %i %u %x %X %o %c %s %p %% with the flags `-+ 0#`,
a width and a precision (either may be `*`), and the length modifiers hh h l ll z t j
(Python ints have no width: a modifier only says how the value wraps, as C's cast does).
Where C would read garbage, kfuzz decides as Linux's outcome would be seen:

- `%s` of NULL (None or 0) prints "(null)", of a small integer "(efault)" (check_pointer);
  bytes and kernel buffers print up to their NUL;
- `%p` prints a hashed pointer, as ptr_to_id: 32 bits of a keyed hash in 16 hex digits,
  never an address (nor Python's id()); NULL prints as 16 zeros;
- an unsupported conversion (%n, %q...) stops the output there, as format_decode's
  FORMAT_TYPE_INVALID does; the caller WARNs once, as Linux does;
- arguments left over are ignored, as C ignores them;
- a conversion with no argument left, or an argument no C cast could make of the
  right type (a str for %d), is a misuse: a TypeError (misuse.py) names the call, the
  format and what it got, so the oops is the module line's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from .misuse import shown
from .mm import Buffer

# a conversion: flags, width, precision, length modifier, then the conversion letter
SPEC = re.compile(r"%([-+ 0#]*)(\*|\d+)?(?:\.(\*|\d*))?(hh|h|ll|l|z|t|j|L|q)?(.?)")
WIDTHS = {"hh": 8, "h": 16, "l": 64, "ll": 64, "L": 64, "q": 64, "z": 64, "t": 64, "j": 64, "": 32}
INTEGER = "diuxXo"
PAGE_SIZE = 4096
_KEY = b"kfuzz ptr_key"  # siphash's ptr_key: one per boot in Linux, fixed here


def hashed_pointer(obj: object) -> str:
    """%p as ptr_to_id prints it: the low 32 bits of a keyed hash, 16 hex digits."""
    if obj is None or (type(obj) is int and obj == 0):
        return "0" * 16
    digest = hashlib.blake2b(id(obj).to_bytes(8, "little", signed=False), key=_KEY, digest_size=4)
    return f"{int.from_bytes(digest.digest(), 'little'):016x}"


def _cstring(value: object) -> str | None:
    """What %s prints of a value, or None where no C string could be made of it."""
    if isinstance(value, str):
        return value
    if value is None or (type(value) is int and value == 0):
        return "(null)"
    if type(value) is int and (0 < value < PAGE_SIZE or value < 0):
        return "(efault)"
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    elif isinstance(value, Buffer):  # a kernel buffer: its bytes up to the NUL
        raw = bytes(value)
    else:
        return None
    return raw.split(b"\0", 1)[0].decode("latin-1")


def _integer(value: object, bits: int, signed: bool) -> int | None:
    """The value as C's cast to the conversion's type makes it; None for no integer."""
    if value is None:  # NULL
        value = 0
    if not isinstance(value, int):
        return None
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def _number(num: int, conv: str, flags: str, width: int, precision: int) -> str:
    """lib/vsprintf.c number(): sign, "0x"/"0" prefix, zero or space padding."""
    base = {"x": 16, "X": 16, "o": 8}.get(conv, 10)
    sign = "-" if num < 0 else "+" if "+" in flags and conv in "di" else \
        " " if " " in flags and conv in "di" else ""
    digits = f"{abs(num):x}" if base == 16 else f"{abs(num):o}" if base == 8 else str(abs(num))
    if conv == "X":
        digits = digits.upper()
    prefix = ""
    if "#" in flags and base != 10:
        prefix = ("0X" if conv == "X" else "0x") if base == 16 else ("0" if num else "")
    digits = digits.rjust(precision, "0") if precision >= 0 else digits
    body = sign + prefix
    if "-" in flags:
        return (body + digits).ljust(width)
    if "0" in flags:
        return body + digits.rjust(width - len(body), "0")
    return (body + digits).rjust(width)


def vsprintf(api: str, fmt: str, args: Sequence[object]) -> tuple[str, str | None]:
    """The formatted text, and the unsupported conversion that ended it, if one did."""
    out: list[str] = []
    pos = 0
    i = 0

    def take(what: str) -> object:
        nonlocal i
        if i >= len(args):
            raise TypeError(f"{api}: format {fmt!r} wants an argument for {what}, but it got "
                         f"{len(args)} argument(s); it takes one per conversion")
        i += 1
        return args[i - 1]

    for m in SPEC.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width_s, prec_s, length, conv = m.groups()
        spec = m.group(0)
        if conv == "%" and not (flags or width_s or prec_s or length):
            out.append("%")
            continue
        width = _star(take(f"the width of {spec}"), api, fmt) if width_s == "*" else int(width_s or 0)
        if width < 0:  # a negative * width is left-justified (format_decode)
            flags, width = flags + "-", -width
        precision = -1
        if prec_s == "*":
            precision = max(_star(take(f"the precision of {spec}"), api, fmt), 0)
        elif prec_s is not None:
            precision = int(prec_s or 0)
        if conv in INTEGER:
            value = take(spec)
            num = _integer(value, WIDTHS[length or ""], conv in "di")
            if num is None:
                raise TypeError(f"{api}: format {fmt!r}: {spec} takes an integer, got "
                             f"{shown(value)}")
            out.append(_number(num, conv, flags, width, precision))
        elif conv == "s":
            value = take(spec)
            text = _cstring(value)
            if text is None:
                raise TypeError(f"{api}: format {fmt!r}: %s takes a str, bytes or kernel buffer, got "
                             f"{shown(value)}")
            text = text[:precision] if precision >= 0 else text
            out.append(text.ljust(width) if "-" in flags else text.rjust(width))
        elif conv == "c":
            value = take(spec)
            if isinstance(value, str) and len(value) == 1:
                char = value
            elif isinstance(value, int):
                char = chr(value & 0xFF)  # (unsigned char) va_arg(args, int)
            else:
                raise TypeError(f"{api}: format {fmt!r}: %c takes a character or an integer, got "
                             f"{shown(value)}")
            out.append(char.ljust(width) if "-" in flags else char.rjust(width))
        elif conv == "p":
            value = take(spec)
            ext = re.match(r"[A-Za-z0-9]*", fmt[pos:])
            pos += len(ext.group(0)) if ext else 0  # %pK, %pS...: the extension is part of it
            out.append(hashed_pointer(value).rjust(width))
        else:  # FORMAT_TYPE_INVALID: "no safe or sane way" to go on
            return "".join(out), conv or "\\0"
    out.append(fmt[pos:])
    return "".join(out), None


def _star(value: object, api: str, fmt: str) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{api}: format {fmt!r}: a * width or precision takes an int, got "
                     f"{shown(value)}")
    return value


def plain(msg: str) -> str:
    """A message given with no arguments: printed as written (an f-string's text), but
    for `%%`, which is `%` as in C, when every `%` in it is one of those."""
    if "%" in msg and "%" not in msg.replace("%%", ""):
        return msg.replace("%%", "%")
    return msg
