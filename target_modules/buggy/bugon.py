"""bugon: a slot table that BUG()s on a user-supplied slot number.

BUG (bug): ioctl BUGON_IOC_CLAIM asserts BUG_ON(slot >= BUGON_NSLOTS) on the
slot number taken straight from user space. Reach it with ioctl 0x6201 and
an argument of 4 or more. Expected: "kernel BUG in bugon_ioctl".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "slot table"

BUGON_IOC_CLAIM = 0x6201
BUGON_NSLOTS = 4

slots = [False] * BUGON_NSLOTS
bugon_lock = mutex_init()


def bugon_ioctl(file, cmd, arg):
    if cmd != BUGON_IOC_CLAIM:
        return -ENOTTY
    if arg < 0:
        return -EINVAL
    BUG_ON(arg >= BUGON_NSLOTS)       # BUG: reachable from user space
    mutex_lock(bugon_lock)
    ret = -EBUSY if slots[arg] else 0
    slots[arg] = True
    mutex_unlock(bugon_lock)
    return ret


bugon_fops = FileOperations(owner=THIS_MODULE, unlocked_ioctl=bugon_ioctl)
bugon_misc = MiscDevice(name="bugon", fops=bugon_fops)


@module_init
def bugon_init():
    return misc_register(bugon_misc)


@module_exit
def bugon_exit():
    misc_deregister(bugon_misc)
