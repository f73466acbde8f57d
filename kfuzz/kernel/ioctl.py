"""ioctl command numbers: direction, size, type and number packed in 32 bits
(include/uapi/asm-generic/ioctl.h). C writes the argument's type, `_IOR('U', 1,
struct foo)`; here the size is an int, `_IOR(ord('U'), 1, 8)` (a one-character
string is taken for the type too)."""

from __future__ import annotations

_IOC_NRBITS = 8
_IOC_TYPEBITS = 8
_IOC_SIZEBITS = 14
_IOC_DIRBITS = 2
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS
_IOC_NONE = 0
_IOC_WRITE = 1  # user space writes, the driver reads: copy_from_user
_IOC_READ = 2  # user space reads, the driver writes: copy_to_user
_IOC_SIZEMASK = (1 << _IOC_SIZEBITS) - 1


def _IOC(dir: int, type: int | str, nr: int, size: int) -> int:
    if isinstance(type, str):
        if len(type) != 1:
            raise TypeError(f"_IOC: the type is one character or an int, not {type!r}")
        type = ord(type)
    if not isinstance(size, int) or not 0 <= size <= _IOC_SIZEMASK:
        raise TypeError(f"_IOC: the size is an int 0..{_IOC_SIZEMASK} (C's sizeof), not {size!r}")
    return (dir << _IOC_DIRSHIFT) | (type << _IOC_TYPESHIFT) | (nr << _IOC_NRSHIFT) | (size << _IOC_SIZESHIFT)


def _IO(type: int | str, nr: int) -> int:
    return _IOC(_IOC_NONE, type, nr, 0)


def _IOR(type: int | str, nr: int, size: int) -> int:
    return _IOC(_IOC_READ, type, nr, size)


def _IOW(type: int | str, nr: int, size: int) -> int:
    return _IOC(_IOC_WRITE, type, nr, size)


def _IOWR(type: int | str, nr: int, size: int) -> int:
    return _IOC(_IOC_READ | _IOC_WRITE, type, nr, size)


def _IOC_DIR(cmd: int) -> int:
    return (cmd >> _IOC_DIRSHIFT) & ((1 << _IOC_DIRBITS) - 1)


def _IOC_TYPE(cmd: int) -> int:
    return (cmd >> _IOC_TYPESHIFT) & ((1 << _IOC_TYPEBITS) - 1)


def _IOC_NR(cmd: int) -> int:
    return (cmd >> _IOC_NRSHIFT) & ((1 << _IOC_NRBITS) - 1)


def _IOC_SIZE(cmd: int) -> int:
    return (cmd >> _IOC_SIZESHIFT) & _IOC_SIZEMASK


def arg_size(cmd: int) -> int:
    """The size of the buffer a command says it copies (0 when it copies none); any
    int is read as the 32-bit command user space passes."""
    cmd &= 0xFFFFFFFF
    return _IOC_SIZE(cmd) if _IOC_DIR(cmd) else 0
