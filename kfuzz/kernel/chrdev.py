"""Character and misc devices: registration makes a /dev node that user space opens.

Majors follow fs/char_dev.c (`__register_chrdev`, `find_dynamic_major`), minors of
misc devices drivers/char/misc.c (`misc_register`). Unlike Linux, register_chrdev
also makes `/dev/<name>` (what a udev rule or mknod would), so a name whose node
exists is refused with -EBUSY: kfuzz's nodes are found by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import titles
from .current import current
from .device import Device
from .errno import EBUSY, EEXIST, EINVAL, ENOMEM
from .faults import should_fail
from .frames import caller_site
from .fs import FileOperations, Node
from .misuse import expect

if TYPE_CHECKING:
    from .core import Kernel

MISC_MAJOR = 10
CHRDEV_MAJOR_MAX = 512
CHRDEV_MAJOR_HASH_SIZE = 255  # the chrdevs[] hash: majors 234..254 are free only if their bucket is
CHRDEV_MAJOR_DYN_END = 234
CHRDEV_MAJOR_DYN_EXT_START = 511
CHRDEV_MAJOR_DYN_EXT_END = 384
MISC_DYNAMIC_MINOR = 255
DYNAMIC_MINORS = 128  # dynamic misc minors: 127 downwards, then above 255
MINORMASK = (1 << 20) - 1


@dataclass(eq=False)
class MiscDevice:
    name: str = ""
    fops: FileOperations | None = None
    minor: int = MISC_DYNAMIC_MINOR  # misc_register puts the minor it picked here, as Linux does
    mode: int = 0o600
    this_device: Device | None = None  # Linux's device of the node; kfuzz makes none

    def __repr__(self) -> str:
        return f"<miscdevice {self.name}>"


def find_dynamic_major(majors: set[int]) -> int:
    """254 down to 234 (a major whose hash bucket holds any major is taken), then
    511 down to 384; -EBUSY when both are full."""
    buckets = {m % CHRDEV_MAJOR_HASH_SIZE for m in majors}
    for i in range(CHRDEV_MAJOR_HASH_SIZE - 1, CHRDEV_MAJOR_DYN_END - 1, -1):
        if i not in buckets:
            return i
    for i in range(CHRDEV_MAJOR_DYN_EXT_START, CHRDEV_MAJOR_DYN_EXT_END - 1, -1):
        if i not in majors:
            return i
    return -EBUSY


def register_chrdev(major: int, name: str, fops: FileOperations) -> int:
    """0 picks a free major and returns it; a given major returns 0; or -errno."""
    expect("register_chrdev", "major", major, int, "an int (0: a free one)")
    expect("register_chrdev", "name", name, str, "a str")
    expect("register_chrdev", "fops", fops, FileOperations, "a FileOperations")
    kernel = current()
    kernel.locking.might_sleep("register_chrdev")  # kzalloc(GFP_KERNEL), chrdevs_lock
    if not 0 <= major < CHRDEV_MAJOR_MAX:
        kernel.log.write(f'CHRDEV "{name}" major requested ({major & 0xFFFFFFFF}) is greater '
                         f"than the maximum ({CHRDEV_MAJOR_MAX - 1})")
        return -EINVAL
    if should_fail("register_chrdev"):
        return -ENOMEM
    majors = kernel.chrdevs
    given = major
    if major == 0:
        major = find_dynamic_major(set(majors) | {MISC_MAJOR})
        if major < 0:
            kernel.log.write(f'CHRDEV "{name}" dynamic allocation region is full')
            return major
    elif major in majors or major == MISC_MAJOR:
        return -EBUSY
    node = Node(f"/dev/{name}", "chrdev", fops, owner=kernel.current_module(),
                obj=major, site=caller_site(), what="chrdev registration")
    if not kernel.fs.add(node):
        return -EBUSY
    majors[major] = node
    return 0 if given else major


def unregister_chrdev(major: int, name: str) -> None:
    """The name is only a label, and an unknown major is ignored: __unregister_chrdev."""
    kernel = current()
    kernel.locking.might_sleep("unregister_chrdev")  # fs/char_dev.c: mutex_lock(&chrdevs_lock) first
    node = kernel.chrdevs.pop(major, None)
    if node is not None:
        kernel.fs.remove(node.path)


def misc_minor_alloc(taken: set[int]) -> int:
    for i in range(DYNAMIC_MINORS - 1, -1, -1):
        if i not in taken:
            return i
    return next((i for i in range(MISC_DYNAMIC_MINOR + 1, MINORMASK + 1) if i not in taken), -EBUSY)


def misc_register(misc: MiscDevice) -> int:
    """0, or -EBUSY for a static minor in use, -EEXIST for a name in use."""
    expect("misc_register", "the misc device", misc, MiscDevice, 'a MiscDevice(name="...", fops=...)')
    if misc.fops is not None:  # none is -EINVAL, as it always was
        expect("misc_register", "fops", misc.fops, FileOperations, "a FileOperations")
    kernel = current()
    kernel.locking.might_sleep("misc_register")  # mutex_lock(&misc_mtx)
    with kernel.misc_mtx.held(kernel):
        return _misc_register(kernel, misc)


def _misc_register(kernel: Kernel, misc: MiscDevice) -> int:
    if should_fail("misc_register"):
        return -ENOMEM
    if not misc.name or misc.fops is None:
        return -EINVAL
    if misc in kernel.miscs:
        kernel.warn(titles.MISC_REGISTER_TWICE,
                    f"misc_register() of {misc!r}, which is registered")
        return -EBUSY
    taken = {m.minor for m in kernel.miscs}
    minor = misc_minor_alloc(taken) if misc.minor == MISC_DYNAMIC_MINOR else misc.minor
    if minor < 0 or minor in taken:
        return -EBUSY
    node = Node(f"/dev/{misc.name}", "misc", misc.fops, mode=misc.mode,
                owner=kernel.current_module(), obj=misc, site=caller_site(), what="misc device")
    if not kernel.fs.add(node):  # device_create: the name is taken
        return -EEXIST
    misc.minor = minor
    kernel.miscs[misc] = node
    return 0


def misc_deregister(misc: MiscDevice) -> None:
    expect("misc_deregister", "the misc device", misc, MiscDevice, "the MiscDevice misc_register took")
    kernel = current()
    if misc not in kernel.miscs:  # WARN_ON(list_empty(&misc->list)) comes before the mutex
        kernel.warn(titles.MISC_DEREGISTER_UNKNOWN,
                    f"misc_deregister() of {misc!r}, which is not registered")
        return
    kernel.locking.might_sleep("misc_deregister")  # mutex_lock(&misc_mtx)
    with kernel.misc_mtx.held(kernel):
        node = kernel.miscs.pop(misc)
        kernel.fs.remove(node.path)
