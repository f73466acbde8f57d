"""USB class-driver minors (drivers/usb/core/file.c): usb_register_dev gives an
interface a minor of major 180 and a /dev node named by its class driver.

`open /dev/NAME` reaches the class driver's fops as usb_open does: under
minor_rwsem, the minor still registered, the fops owner's module pinned
(fops_get). minor_rwsem is a kernel mutex here, so usb_deregister_dev waits for
opens in flight as down_write waits for readers; opens of usb nodes are thereby
serialised among themselves, which Linux's down_read does not do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .current import current
from .errno import EADDRINUSE, EEXIST, EINVAL, ENOMEM, EXFULL
from .faults import should_fail
from .frames import caller_site
from .fs import FileOperations, Inode, Node
from .usb import UsbDriver, UsbInterface

USB_MAJOR = 180
MAX_USB_MINORS = 256


@dataclass(eq=False)
class UsbClassDriver:
    """`struct usb_class_driver`: `name` holds a %d for the minor's number above its
    base (CONFIG_USB_DYNAMIC_MINORS off, as in most kernels)."""

    name: str = ""
    fops: FileOperations | None = None
    minor_base: int = 0


@dataclass(eq=False)
class UsbMinor:
    """usb_minors[minor]: what the node was registered for; iminor reads `minor`."""

    minor: int
    intf: UsbInterface
    class_driver: UsbClassDriver


def usb_register_dev(intf: UsbInterface, class_driver: UsbClassDriver) -> int:
    """0, or -EINVAL (no fops), -EADDRINUSE (the interface has a minor), -EXFULL (none
    free), -EEXIST (the node's name is taken), -ENOMEM."""
    kernel = current()
    kernel.locking.might_sleep("usb_register_dev")  # down_write(&minor_rwsem)
    if class_driver.fops is None:
        return -EINVAL
    if intf.minor >= 0:
        return -EADDRINUSE
    usb = kernel.usb
    with usb.minor_rwsem.held(kernel):
        base = int(class_driver.minor_base)
        minor = next((m for m in range(max(base, 0), MAX_USB_MINORS) if m not in usb.minors), -1)
        if minor < 0:
            return -EXFULL
        if should_fail("usb_register_dev"):  # device_create
            return -ENOMEM
        name = re.sub(r"%d", str(minor - base), class_driver.name, count=1).rsplit("/", 1)[-1]
        reg = UsbMinor(minor, intf, class_driver)
        node = Node(f"/dev/{name}", "usb", class_driver.fops, owner=kernel.current_module(), obj=reg,
                    site=caller_site(), what="usb class device", open_lock=usb.minor_rwsem)
        if not kernel.fs.add(node):
            return -EEXIST
        usb.minors[minor] = (reg, node)
        intf.minor = minor
    return 0


def usb_deregister_dev(intf: UsbInterface, class_driver: UsbClassDriver) -> None:
    """The node goes; an open in flight through it finishes first."""
    if intf.minor == -1:
        return
    kernel = current()
    kernel.locking.might_sleep("usb_deregister_dev")
    usb = kernel.usb
    with usb.minor_rwsem.held(kernel):
        entry = usb.minors.pop(intf.minor, None)
        if entry is not None:
            kernel.fs.remove(entry[1].path)
        intf.minor = -1


def usb_find_interface(drv: UsbDriver, minor: int) -> UsbInterface | None:
    """The interface bound to `drv` whose class minor is `minor` (usb.c)."""
    entry = current().usb.minors.get(minor)
    if entry is None:
        return None
    intf: UsbInterface = entry[0].intf
    return intf if drv.driver is not None and intf.dev.driver is drv.driver else None


def iminor(inode: Inode) -> int:
    return inode.i_minor

