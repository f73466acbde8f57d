"""oobwrite: a mailbox device that trusts the user's length.

BUG (out-of-bounds): write() copies the user's data into a fixed 64-byte
kmalloc'd mailbox without checking its length; a write of more than 64 bytes
runs past the end. Expected: "KASAN: slab-out-of-bounds in oobwrite_write".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "64-byte mailbox char device"

MBOX_SIZE = 64

mbox = None
mbox_len = 0
mbox_major = 0
mbox_lock = mutex_init()


def oobwrite_write(file, data):
    global mbox_len
    mutex_lock(mbox_lock)
    mbox[0:len(data)] = data          # BUG: no check against MBOX_SIZE
    mbox_len = len(data)
    mutex_unlock(mbox_lock)
    return len(data)


def oobwrite_read(file, count):
    mutex_lock(mbox_lock)
    data = bytes(mbox[0:mbox_len])
    mutex_unlock(mbox_lock)
    return data[:max(count, 0)]


oobwrite_fops = FileOperations(owner=THIS_MODULE, read=oobwrite_read,
                               write=oobwrite_write)


@module_init
def oobwrite_init():
    global mbox, mbox_major
    mbox = kzalloc(MBOX_SIZE)
    if mbox is None:
        return -ENOMEM
    major = register_chrdev(0, "oobwrite", oobwrite_fops)
    if major < 0:
        kfree(mbox)
        return major
    mbox_major = major
    return 0


@module_exit
def oobwrite_exit():
    unregister_chrdev(mbox_major, "oobwrite")
    kfree(mbox)
