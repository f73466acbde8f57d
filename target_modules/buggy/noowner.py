"""noowner: a chrdev whose file_operations have no owner.

BUG (unloaded-code): noowner_fops is built without owner=THIS_MODULE, so an
open /dev/noowner does not pin the module: rmmod succeeds while the file is
open, and the next read() on it calls into the unloaded module.
Reach it with open, rmmod, read. Expected:
"BUG: unable to handle page fault in noowner_read".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "version string char device"

VERSION = b"noowner 1.0\n"

noowner_major = 0


def noowner_read(file, count):
    data = VERSION[file.f_pos:file.f_pos + max(count, 0)]
    file.f_pos += len(data)
    return data


noowner_fops = FileOperations(read=noowner_read)   # BUG: no owner=THIS_MODULE


@module_init
def noowner_init():
    global noowner_major
    major = register_chrdev(0, "noowner", noowner_fops)
    if major < 0:
        return major
    noowner_major = major
    return 0


@module_exit
def noowner_exit():
    unregister_chrdev(noowner_major, "noowner")
