"""dblfree: per-open scratch buffer freed twice.

BUG (double-free): ioctl DBLFREE_IOC_DROP frees the file's scratch buffer but
leaves the stale pointer in the per-file context; release() then kfrees it
again. Reach it with open, ioctl 0x6401, close.
Expected: "KASAN: double-free in dblfree_release".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "misc device with a per-open scratch buffer"

DBLFREE_IOC_DROP = 0x6401
SCRATCH = 128


def dblfree_open(inode, file):
    ctx = kzalloc(32)
    if ctx is None:
        return -ENOMEM
    ctx.scratch = kzalloc(SCRATCH)
    if ctx.scratch is None:
        kfree(ctx)
        return -ENOMEM
    file.private_data = ctx
    return 0


def dblfree_ioctl(file, cmd, arg):
    ctx = file.private_data
    if cmd == DBLFREE_IOC_DROP:
        kfree(ctx.scratch)        # BUG: ctx.scratch is not set to None
        return 0
    return -ENOTTY


def dblfree_release(inode, file):
    ctx = file.private_data
    kfree(ctx.scratch)
    kfree(ctx)
    return 0


dblfree_fops = FileOperations(owner=THIS_MODULE, open=dblfree_open,
                              unlocked_ioctl=dblfree_ioctl,
                              release=dblfree_release)
dblfree_misc = MiscDevice(name="dblfree", fops=dblfree_fops)


@module_init
def dblfree_init():
    return misc_register(dblfree_misc)


@module_exit
def dblfree_exit():
    misc_deregister(dblfree_misc)
