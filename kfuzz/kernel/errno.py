"""Error numbers: the standard ones, with the values of Python's errno module."""

import errno as _errno

ENOMEM = _errno.ENOMEM
EINVAL = _errno.EINVAL
EBUSY = _errno.EBUSY
ENODEV = _errno.ENODEV
EFAULT = _errno.EFAULT
ENOENT = _errno.ENOENT
EEXIST = _errno.EEXIST
EPERM = _errno.EPERM
EACCES = _errno.EACCES
ENOTTY = _errno.ENOTTY
EAGAIN = _errno.EAGAIN
EIO = _errno.EIO
ENXIO = _errno.ENXIO
EBADF = _errno.EBADF
ENOSPC = _errno.ENOSPC
ENOEXEC = _errno.ENOEXEC
ENOSYS = _errno.ENOSYS
ETIMEDOUT = _errno.ETIMEDOUT
ETIME = _errno.ETIME
EOVERFLOW = _errno.EOVERFLOW
ERANGE = _errno.ERANGE
EINTR = _errno.EINTR
ENOTSUPP = 524
ERESTARTSYS = 512  # include/linux/errno.h: user space sees EINTR (or the call restarts)
ERESTART = 85  # include/uapi/asm-generic/errno.h: returned to user space as it is
ESRCH = _errno.ESRCH
EPIPE = _errno.EPIPE
EKEYREJECTED = _errno.EKEYREJECTED
EBADMSG = _errno.EBADMSG
ENOKEY = _errno.ENOKEY
ENODATA = _errno.ENODATA
ECONNRESET = _errno.ECONNRESET
ESHUTDOWN = _errno.ESHUTDOWN
EPROTO = _errno.EPROTO
EILSEQ = _errno.EILSEQ
EMSGSIZE = _errno.EMSGSIZE
EREMOTEIO = _errno.EREMOTEIO
EINPROGRESS = _errno.EINPROGRESS
EXDEV = _errno.EXDEV
ENOTCONN = _errno.ENOTCONN
ESPIPE = _errno.ESPIPE
EHOSTUNREACH = _errno.EHOSTUNREACH
EBADR = _errno.EBADR
EIDRM = _errno.EIDRM
EADDRINUSE = _errno.EADDRINUSE
EXFULL = _errno.EXFULL

ERRNO_NAMES = {v: k for k, v in vars().items() if k.startswith("E") and isinstance(v, int)}


def errname(err: int) -> str:
    """`-12` -> `-ENOMEM`: how a kernel developer reads a return value."""
    name = ERRNO_NAMES.get(-err) if isinstance(err, int) else None
    return f"-{name}" if name else str(err)
