"""ticketpr: ticket-printer chrdev whose open files pin the module (fops owner).

/dev/ticketpr (register_chrdev) hands out ticket numbers: each read gives the
next one. The printer powers up on the first open (open sleeps for it, holding
st.lock) and down after the last close. The file_operations have
owner=THIS_MODULE, so the kernel takes the module reference before open() runs
and drops it after release(): rmmod gets -EBUSY while a file is open or an open
is in progress, and an open of a module going away fails with -ENODEV without
calling into it.

This is selfpin.py (target_modules/buggy/) done right.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "ticket printer"

TICKETPR_POWER_MS = 20         # the printer powers up (or down)

ticketpr_major = 0
ticketpr_dev = None            # the printer's state, kzalloc'd at load


def ticketpr_open(inode, file):
    st = ticketpr_dev
    mutex_lock(st.lock)
    if st.users == 0:
        pr_debug("ticketpr: power up")
        msleep(TICKETPR_POWER_MS)      # the printer powers up; other openers wait on st.lock
        st.powered = True
    st.users += 1
    mutex_unlock(st.lock)
    return 0


def ticketpr_read(file, count):
    """The next ticket number, as text."""
    st = ticketpr_dev
    mutex_lock(st.lock)
    st.ticket += 1
    data = b"%d\n" % st.ticket
    mutex_unlock(st.lock)
    return data[:max(count, 0)]


def ticketpr_release(inode, file):
    st = ticketpr_dev
    mutex_lock(st.lock)
    st.users -= 1
    if st.users == 0:
        pr_debug("ticketpr: power down")
        msleep(TICKETPR_POWER_MS)
        st.powered = False
    mutex_unlock(st.lock)
    return 0


ticketpr_fops = FileOperations(owner=THIS_MODULE, open=ticketpr_open, read=ticketpr_read,
                               release=ticketpr_release)


@module_init
def ticketpr_init():
    global ticketpr_dev, ticketpr_major
    st = kzalloc(32)
    if st is None:
        return -ENOMEM
    st.lock = mutex_init()
    ticketpr_dev = st
    major = register_chrdev(0, "ticketpr", ticketpr_fops)
    if major < 0:
        ticketpr_dev = None
        kfree(st)
        return major
    ticketpr_major = major
    return 0


@module_exit
def ticketpr_exit():
    unregister_chrdev(ticketpr_major, "ticketpr")
    kfree(ticketpr_dev)
