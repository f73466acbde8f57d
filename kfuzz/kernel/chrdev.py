"""Character and misc devices: registration makes a /dev node that user space opens."""

from __future__ import annotations

from dataclasses import dataclass

from . import titles
from .current import current
from .device import Device
from .errno import EBUSY, EINVAL, ENOMEM
from .faults import should_fail
from .frames import caller_site
from .fs import FileOperations, Node

MISC_MAJOR = 10
DYNAMIC_MAJORS = range(254, 233, -1)


@dataclass(eq=False)
class MiscDevice:
    name: str = ""
    fops: FileOperations | None = None
    minor: int = 255
    mode: int = 0o600
    this_device: Device | None = None  # Linux's device of the node; kfuzz makes none

    def __repr__(self) -> str:
        return f"<miscdevice {self.name}>"


def register_chrdev(major: int, name: str, fops: FileOperations) -> int:
    """0 picks a free major; returns the major or -errno."""
    kernel = current()
    kernel.locking.might_sleep("register_chrdev")  # kzalloc(GFP_KERNEL), chrdevs_lock
    if should_fail("register_chrdev"):
        return -ENOMEM
    majors = kernel.chrdevs
    if major == 0:
        major = next((m for m in DYNAMIC_MAJORS if m not in majors), 0)
        if not major:
            return -EBUSY
    elif major in majors or major == MISC_MAJOR:
        return -EBUSY
    elif not 0 < major < 512:
        return -EINVAL
    node = Node(f"/dev/{name}", "chrdev", fops, owner=kernel.current_module(),
                obj=major, site=caller_site(), what="chrdev registration")
    if not kernel.fs.add(node):
        return -EBUSY
    majors[major] = node
    return major


def unregister_chrdev(major: int, name: str) -> None:
    kernel = current()
    kernel.locking.might_sleep("unregister_chrdev")  # fs/char_dev.c: mutex_lock(&chrdevs_lock) first
    node = kernel.chrdevs.get(major)
    if node is None or node.path != f"/dev/{name}":
        kernel.warn(titles.UNREGISTER_CHRDEV_UNKNOWN,
                    f"unregister_chrdev({major}, '{name}'): no such registration")
        return
    del kernel.chrdevs[major]
    kernel.fs.remove(node.path)


def misc_register(misc: MiscDevice) -> int:
    kernel = current()
    kernel.locking.might_sleep("misc_register")  # mutex_lock(&misc_mtx)
    if should_fail("misc_register"):
        return -ENOMEM
    if not misc.name or misc.fops is None:
        return -EINVAL
    if misc in kernel.miscs:
        kernel.warn(titles.MISC_REGISTER_TWICE,
                    f"misc_register() of {misc!r}, which is registered")
        return -EBUSY
    node = Node(f"/dev/{misc.name}", "misc", misc.fops, mode=misc.mode,
                owner=kernel.current_module(), obj=misc, site=caller_site(), what="misc device")
    if not kernel.fs.add(node):
        return -EBUSY
    kernel.miscs[misc] = node
    return 0


def misc_deregister(misc: MiscDevice) -> None:
    kernel = current()
    if misc not in kernel.miscs:  # WARN_ON(list_empty(&misc->list)) comes before the mutex
        kernel.warn(titles.MISC_DEREGISTER_UNKNOWN,
                    f"misc_deregister() of {misc!r}, which is not registered")
        return
    kernel.locking.might_sleep("misc_deregister")  # mutex_lock(&misc_mtx)
    node = kernel.miscs.pop(misc)
    kernel.fs.remove(node.path)
