"""nullpriv: a session device whose read() assumes a session exists.

BUG (oops): the per-file session is created by ioctl NULLPRIV_IOC_START and
stored in file.private_data, but read() dereferences file.private_data
without checking it: reading before starting a session is a NULL pointer
dereference. Reach it with open then read.
Expected: "BUG: kernel NULL pointer dereference in nullpriv_read".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "per-file session char device"

NULLPRIV_IOC_START = 0x6E01

nullpriv_major = 0


def nullpriv_open(inode, file):
    file.private_data = None
    return 0


def nullpriv_ioctl(file, cmd, arg):
    if cmd != NULLPRIV_IOC_START:
        return -ENOTTY
    if file.private_data is not None:
        return -EBUSY
    sess = kzalloc(16)
    if sess is None:
        return -ENOMEM
    sess.seq = arg
    file.private_data = sess
    return 0


def nullpriv_read(file, count):
    sess = file.private_data
    sess.seq += 1                     # BUG: no session yet -> None
    return (b"%d\n" % sess.seq)[:max(count, 0)]


def nullpriv_release(inode, file):
    kfree(file.private_data)
    return 0


nullpriv_fops = FileOperations(owner=THIS_MODULE, open=nullpriv_open,
                               read=nullpriv_read,
                               unlocked_ioctl=nullpriv_ioctl,
                               release=nullpriv_release)


@module_init
def nullpriv_init():
    global nullpriv_major
    major = register_chrdev(0, "nullpriv", nullpriv_fops)
    if major < 0:
        return major
    nullpriv_major = major
    return 0


@module_exit
def nullpriv_exit():
    unregister_chrdev(nullpriv_major, "nullpriv")
