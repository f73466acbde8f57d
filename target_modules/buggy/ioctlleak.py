"""ioctlleak: a sensor whose query ioctl leaks its reply buffer on a bad argument.

BUG (memory-leak): ioctl IOCTLLEAK_IOC_QUERY kmallocs a reply buffer in a local
before it checks its argument, and the -EINVAL path for a word count above
IOCTLLEAK_MAX_WORDS returns without kfree'ing it. Nothing keeps the buffer, so
it is lost when the ioctl returns; rmmod never sees it, as no global holds it.
Reach it with ioctl 0x7801 and an argument above 16.
Expected: "memory leak in ioctlleak_ioctl".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "sensor with a query ioctl"

IOCTLLEAK_IOC_QUERY = 0x7801
IOCTLLEAK_MAX_WORDS = 16

readings = [7, 21, 42]


def ioctlleak_ioctl(file, cmd, arg):
    if cmd != IOCTLLEAK_IOC_QUERY:
        return -ENOTTY
    reply = kmalloc(4 * IOCTLLEAK_MAX_WORDS)
    if reply is None:
        return -ENOMEM
    if arg < 0 or arg > IOCTLLEAK_MAX_WORDS:
        return -EINVAL        # BUG: reply is not kfree'd on this path
    for i in range(arg):
        reply[4 * i] = readings[i % len(readings)]
    total = sum(reply[4 * i] for i in range(arg))
    kfree(reply)
    return total


ioctlleak_fops = FileOperations(owner=THIS_MODULE, unlocked_ioctl=ioctlleak_ioctl)
ioctlleak_misc = MiscDevice(name="ioctlleak", fops=ioctlleak_fops)


@module_init
def ioctlleak_init():
    return misc_register(ioctlleak_misc)


@module_exit
def ioctlleak_exit():
    misc_deregister(ioctlleak_misc)
