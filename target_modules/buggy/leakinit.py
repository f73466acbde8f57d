"""leakinit: memory leak on an init error path.

BUG (memory-leak): leakinit_init kmallocs a 256-byte scratch buffer, then
registers the chrdev "leakinit"; when register_chrdev fails it returns the
error without kfree'ing the buffer. Reach it with fault injection on the
load: `insmod leakinit (fail_nth: 2)` (the 2nd fallible call is
register_chrdev). Expected: "memory leak in leakinit_init".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "chrdev that leaks its buffer when registration fails"

leakinit_buf = None
leakinit_major = 0


def leakinit_read(file, count):
    return bytes(leakinit_buf[0:min(max(count, 0), len(leakinit_buf))])


leakinit_fops = FileOperations(owner=THIS_MODULE, read=leakinit_read)


@module_init
def leakinit_init():
    global leakinit_buf, leakinit_major
    leakinit_buf = kmalloc(256)
    if leakinit_buf is None:
        return -ENOMEM
    leakinit_buf[0:6] = b"hello\n"
    major = register_chrdev(0, "leakinit", leakinit_fops)
    if major < 0:
        return major          # BUG: leaks leakinit_buf
    leakinit_major = major
    return 0


@module_exit
def leakinit_exit():
    unregister_chrdev(leakinit_major, "leakinit")
    kfree(leakinit_buf)
