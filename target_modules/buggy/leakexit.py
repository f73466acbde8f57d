"""leakexit: memory leak at unload.

BUG (memory-leak): every write() to /dev/leakexit replaces the device's
"last message" buffer (kmalloc'd in leakexit_write, the previous one freed),
but leakexit_exit forgets to kfree the last one. Reach it with one write and
an rmmod. Expected: "memory leak in leakexit_write".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "misc device that keeps the last message written"

last_msg = None
leakexit_lock = mutex_init()


def leakexit_write(file, data):
    global last_msg
    buf = kmalloc(max(len(data), 1))
    if buf is None:
        return -ENOMEM
    buf[0:len(data)] = data
    mutex_lock(leakexit_lock)
    kfree(last_msg)
    last_msg = buf
    mutex_unlock(leakexit_lock)
    return len(data)


def leakexit_read(file, count):
    mutex_lock(leakexit_lock)
    data = b"" if last_msg is None else bytes(last_msg[0:len(last_msg)])
    mutex_unlock(leakexit_lock)
    return data[:max(count, 0)]


leakexit_fops = FileOperations(owner=THIS_MODULE, read=leakexit_read,
                               write=leakexit_write)
leakexit_misc = MiscDevice(name="leakexit", fops=leakexit_fops)


@module_init
def leakexit_init():
    return misc_register(leakexit_misc)


@module_exit
def leakexit_exit():
    misc_deregister(leakexit_misc)
    # BUG: kfree(last_msg) missing
