"""kstrdup, kstrndup and kmemdup (mm/util.c): copies into fresh kmalloc'd buffers.

Each is an allocation like kmalloc's: it can fail (fault injection), kmemleak reports it
when it is never freed, KASAN checks it. A string comes back as a Buffer of its bytes
and a NUL, as the C string it is (a str is UTF-8 encoded); a NULL source gives NULL.
"""

from __future__ import annotations

from .current import current
from .misuse import misuse
from .mm import GFP_KERNEL, Buffer


def _source(api: str, s: object) -> bytes:
    """The bytes of a C string source, up to its NUL."""
    if isinstance(s, str):
        raw = s.encode()
    elif isinstance(s, (bytes, bytearray)):
        raw = bytes(s)
    elif isinstance(s, Buffer):
        raw = bytes(s)  # KASAN checks the read
    else:
        raise misuse(api, "the string", s, "a str, bytes or a kernel buffer (or None)")
    return raw.split(b"\0", 1)[0]


def _copy(api: str, data: bytes, gfp: int) -> Buffer | None:
    buf = current().mm.alloc(len(data) + 1, gfp, api)
    if buf is not None:
        buf[0:len(data)] = data
        buf[len(data)] = 0
    return buf


def kstrdup(s: object, gfp: int = GFP_KERNEL) -> Buffer | None:
    if s is None:
        return None
    return _copy("kstrdup", _source("kstrdup", s), gfp)


def kstrndup(s: object, max: int, gfp: int = GFP_KERNEL) -> Buffer | None:
    """At most `max` bytes of the string, and a NUL."""
    if s is None:
        return None
    if not isinstance(max, int) or max < 0:
        raise misuse("kstrndup", "max", max, "a length (an int of 0 or more)")
    return _copy("kstrndup", _source("kstrndup", s)[:max], gfp)


def kmemdup(src: object, len: int, gfp: int = GFP_KERNEL) -> Buffer | None:
    """`len` bytes of `src`; reading past the end of a kernel buffer is KASAN's."""
    if not isinstance(len, int) or len < 0:
        raise misuse("kmemdup", "len", len, "a length (an int of 0 or more)")
    if isinstance(src, Buffer):
        data = src[0:len]
    elif isinstance(src, (bytes, bytearray)):
        data = bytes(src[:len])
    else:
        raise misuse("kmemdup", "src", src, "bytes or a kernel buffer")
    buf = current().mm.alloc(len, gfp, "kmemdup")
    if buf is not None:
        buf[0:len] = data
    return buf
