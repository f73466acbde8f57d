"""msgq: message log whose read waits for the writers in flight, the mutex dropped.

/dev/msgq keeps a log of the messages written to it: a write sends its message
to the device (dropping st.lock while the device takes it, st.writing counting
the messages in flight), then appends it to the log under st.lock and wakes the
readers; a read returns the log, first waiting on st.wq, with st.lock dropped,
for the messages in flight, so that it never misses one. A signal ends the wait
with -EINTR.

This is waitlock.py (target_modules/buggy/) done right.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "message log"

MSGQ_LOG = 256             # the log keeps the last bytes written
MSGQ_SEND_MS = 20          # the device takes a message

msgq_dev = None            # the device's state, kzalloc'd at load


def msgq_no_writer(st):
    """The wait's condition: no message in flight (read without the lock)."""
    return READ_ONCE(st, "writing") == 0


def msgq_read(file, count):
    """The log, after any message in flight is in it."""
    st = msgq_dev
    mutex_lock(st.lock)
    while st.writing:             # a message in flight: wait for it without the lock
        mutex_unlock(st.lock)
        ret = wait_event_interruptible(st.wq, lambda: msgq_no_writer(st))
        if ret:
            return ret
        mutex_lock(st.lock)
    data = st.log[:max(count, 0)]
    mutex_unlock(st.lock)
    return data


def msgq_write(file, data):
    """A message: sent to the device (the mutex dropped while it takes it), then
    added to the log."""
    st = msgq_dev
    n = min(len(data), MSGQ_LOG)
    mutex_lock(st.lock)
    WRITE_ONCE(st, "writing", st.writing + 1)
    mutex_unlock(st.lock)
    msleep(MSGQ_SEND_MS)           # the device takes the message
    mutex_lock(st.lock)
    st.log = (st.log + bytes(data[:n]))[-MSGQ_LOG:]
    WRITE_ONCE(st, "writing", st.writing - 1)
    mutex_unlock(st.lock)
    wake_up_interruptible(st.wq)
    return n


msgq_fops = FileOperations(owner=THIS_MODULE, read=msgq_read, write=msgq_write)
msgq_misc = MiscDevice(name="msgq", fops=msgq_fops)


@module_init
def msgq_init():
    global msgq_dev
    st = kzalloc(32)
    if st is None:
        return -ENOMEM
    st.lock = mutex_init()
    st.wq = init_waitqueue_head()
    st.log = b""
    st.writing = 0
    msgq_dev = st
    ret = misc_register(msgq_misc)
    if ret:
        msgq_dev = None
        kfree(st)
    return ret


@module_exit
def msgq_exit():
    misc_deregister(msgq_misc)
    kfree(msgq_dev)
