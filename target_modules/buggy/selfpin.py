"""selfpin: ticket-printer chrdev that pins its own module from open(), too late.

/dev/selfpin (register_chrdev) hands out ticket numbers: each read gives the
next one. The printer powers up on the first open (open sleeps for it, holding
st.lock) and down after the last close. Its file_operations have no owner, so
the kernel pins nothing while a file is open or an open is in progress; instead
open() takes a module reference itself, try_module_get(THIS_MODULE), once the
printer is up, and release() drops it. That keeps rmmod away from an open file.

BUG (unloaded-code): not from an open in progress. Until open reaches its
try_module_get nothing stops rmmod: the exit unregisters the node, kfree()s the
printer's state and the module goes while open sleeps in the power-up, which
then runs on in freed code, on freed state. (This race is why fops->owner
exists: the kernel's try_module_get comes before any of the driver's code.) An
rmmod first removes the node (open gets -ENOENT); an open first pins the module
(rmmod gets -EBUSY); the rmmod must come during the open:

    together
      t1: open /dev/selfpin -> fd0
      t2: rmmod selfpin
    schedule: t1 at msleep -> t2

Expected: "BUG: unable to handle page fault in selfpin_open". (ticketpr.py is the
correct version: owner=THIS_MODULE, so an open in progress and an open file pin
the module.)
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "ticket printer (pins its module from open)"

SELFPIN_POWER_MS = 20         # the printer powers up (or down)

selfpin_major = 0
selfpin_dev = None            # the printer's state, kzalloc'd at load


def selfpin_open(inode, file):
    st = selfpin_dev
    mutex_lock(st.lock)
    if st.users == 0:
        pr_debug("selfpin: power up")
        msleep(SELFPIN_POWER_MS)      # the printer powers up; other openers wait on st.lock
        # BUG: an rmmod may have unloaded the module, and freed st, meanwhile
        st.powered = True
    st.users += 1
    mutex_unlock(st.lock)
    if not try_module_get(THIS_MODULE):   # too late: an rmmod may have run already
        mutex_lock(st.lock)
        st.users -= 1
        mutex_unlock(st.lock)
        return -ENODEV
    return 0


def selfpin_read(file, count):
    """The next ticket number, as text."""
    st = selfpin_dev
    mutex_lock(st.lock)
    st.ticket += 1
    data = b"%d\n" % st.ticket
    mutex_unlock(st.lock)
    return data[:max(count, 0)]


def selfpin_release(inode, file):
    st = selfpin_dev
    mutex_lock(st.lock)
    st.users -= 1
    if st.users == 0:
        pr_debug("selfpin: power down")
        msleep(SELFPIN_POWER_MS)
        st.powered = False
    mutex_unlock(st.lock)
    module_put(THIS_MODULE)
    return 0


selfpin_fops = FileOperations(open=selfpin_open, read=selfpin_read,   # BUG: no owner=THIS_MODULE
                              release=selfpin_release)


@module_init
def selfpin_init():
    global selfpin_dev, selfpin_major
    st = kzalloc(32)
    if st is None:
        return -ENOMEM
    st.lock = mutex_init()
    selfpin_dev = st
    major = register_chrdev(0, "selfpin", selfpin_fops)
    if major < 0:
        selfpin_dev = None
        kfree(st)
        return major
    selfpin_major = major
    return 0


@module_exit
def selfpin_exit():
    unregister_chrdev(selfpin_major, "selfpin")
    kfree(selfpin_dev)
