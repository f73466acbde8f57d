"""lockorder: a device with a config lock and a data lock taken in both orders.

BUG (lockdep): ioctl LOCKORDER_IOC_RESIZE takes cfg_lock then data_lock;
write() takes data_lock then cfg_lock. Once both paths have run, the lock
order graph has a cycle (ABBA deadlock). Reach it with an ioctl then a write.
Expected: "possible circular locking dependency in lockorder_write".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "two-lock buffer device (ABBA)"

LOCKORDER_IOC_RESIZE = 0x6C01

cfg_lock = mutex_init()
data_lock = mutex_init()
cfg = {"limit": 64}
stored = [0]


def lockorder_ioctl(file, cmd, arg):
    if cmd != LOCKORDER_IOC_RESIZE:
        return -ENOTTY
    if arg <= 0 or arg > 4096:
        return -EINVAL
    mutex_lock(cfg_lock)
    mutex_lock(data_lock)
    cfg["limit"] = arg
    stored[0] = min(stored[0], arg)
    mutex_unlock(data_lock)
    mutex_unlock(cfg_lock)
    return 0


def lockorder_write(file, data):
    mutex_lock(data_lock)
    mutex_lock(cfg_lock)              # BUG: inverse of lockorder_ioctl's order
    n = min(len(data), cfg["limit"])
    stored[0] = n
    mutex_unlock(cfg_lock)
    mutex_unlock(data_lock)
    return n


lockorder_fops = FileOperations(owner=THIS_MODULE, write=lockorder_write,
                                unlocked_ioctl=lockorder_ioctl)
lockorder_misc = MiscDevice(name="lockorder", fops=lockorder_fops)


@module_init
def lockorder_init():
    return misc_register(lockorder_misc)


@module_exit
def lockorder_exit():
    misc_deregister(lockorder_misc)
