"""The llseek helpers drivers put in their file operations (fs/read_write.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errno import EINVAL, ENXIO, ESPIPE

if TYPE_CHECKING:
    from .fs import File, Inode

# include/uapi/linux/fs.h
SEEK_SET = 0
SEEK_CUR = 1
SEEK_END = 2
SEEK_DATA = 3
SEEK_HOLE = 4
SEEK_MAX = SEEK_HOLE
WHENCES = {"SEEK_SET": SEEK_SET, "SEEK_CUR": SEEK_CUR, "SEEK_END": SEEK_END,
           "SEEK_DATA": SEEK_DATA, "SEEK_HOLE": SEEK_HOLE}
MAX_LFS_FILESIZE = (1 << 63) - 1


def vfs_setpos(file: File, offset: int, maxsize: int) -> int:
    """The new position, if it is within 0..maxsize; -EINVAL otherwise."""
    if offset < 0 or offset > maxsize:
        return -EINVAL
    file.f_pos = offset
    return offset


def generic_file_llseek_size(file: File, offset: int, whence: int, maxsize: int, eof: int) -> int:
    """Seeks in a file of `eof` bytes that may grow to `maxsize`."""
    if whence == SEEK_END:
        offset += eof
    elif whence == SEEK_CUR:
        if offset == 0:  # the position, not changed (a way to read it)
            return file.f_pos
        offset += file.f_pos
    elif whence == SEEK_DATA:
        if offset < 0 or offset >= eof:
            return -ENXIO
    elif whence == SEEK_HOLE:
        if offset < 0 or offset >= eof:
            return -ENXIO
        offset = eof
    elif whence != SEEK_SET:
        return -EINVAL
    return vfs_setpos(file, offset, maxsize)


def fixed_size_llseek(file: File, offset: int, whence: int, size: int) -> int:
    """A device of `size` bytes: SEEK_SET, SEEK_CUR and SEEK_END only."""
    if whence not in (SEEK_SET, SEEK_CUR, SEEK_END):
        return -EINVAL
    return generic_file_llseek_size(file, offset, whence, size, size)


def default_llseek(file: File, offset: int, whence: int) -> int:
    """Seeks against the inode's size (`inode.i_size`); any non-negative position."""
    size = file.f_inode.i_size
    if whence == SEEK_END:
        offset += size
    elif whence == SEEK_CUR:
        if offset == 0:
            return file.f_pos
        offset += file.f_pos
    elif whence == SEEK_DATA:
        if offset >= size:
            return -ENXIO
    elif whence == SEEK_HOLE:
        if offset >= size:
            return -ENXIO
        offset = size
    if offset < 0:
        return -EINVAL
    file.f_pos = offset
    return offset


def noop_llseek(file: File, offset: int, whence: int) -> int:
    """A seek that succeeds and moves nothing: the position as it is."""
    return file.f_pos


def no_llseek(file: File, offset: int, whence: int) -> int:
    """Not seekable (kernels before 6.12; later ones leave llseek NULL for this)."""
    return -ESPIPE


def nonseekable_open(inode: Inode, filp: File) -> int:
    """Called from open: lseek, pread and pwrite give -ESPIPE."""
    from .fs import FMODE_LSEEK, FMODE_PREAD, FMODE_PWRITE
    filp.f_mode &= ~(FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE)
    return 0


stream_open = nonseekable_open  # and no f_pos locking, which kfuzz does not model
