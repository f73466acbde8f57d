"""capable() (kernel/capability.c): whether the task may do a privileged thing.

A system call runs as root or as nobody (a program's `as nobody`); root holds every
capability and nobody none, as in a Linux without user namespaces or file capabilities.
"""

from __future__ import annotations

from . import titles
from .current import current

# include/uapi/linux/capability.h
CAP_NET_ADMIN = 12
CAP_SYS_MODULE = 16
CAP_SYS_RAWIO = 17
CAP_SYS_ADMIN = 21
CAP_LAST_CAP = 40  # CAP_CHECKPOINT_RESTORE


def capable(cap: int) -> bool:
    """True as root; an invalid capability is the BUG of ns_capable_common."""
    kernel = current()
    if type(cap) is not int or not 0 <= cap <= CAP_LAST_CAP:  # cap_valid
        kernel.log.write(f"capable() called with invalid cap={cap!r}", 2)
        kernel.bug(titles.BUG, f"kernel BUG: capable() called with invalid cap={cap!r}")
    return kernel.uid == 0
