"""waitlock: message log whose read waits for a writer while holding the writer's mutex.

/dev/waitlock keeps a log of the messages written to it: a write sends its
message to the device (dropping st.lock while the device takes it, st.writing
counting the messages in flight), then appends it to the log under st.lock and
wakes the readers; a read returns the log, first waiting on st.wq for the
messages in flight so that it never misses one.

BUG (hang): read waits for the messages in flight with st.lock held, and a
writer needs st.lock to finish its message and wake it: a read that comes while
a write's message is in flight deadlocks with it. One at a time they are clean
(a read alone never waits); the read must come while the write sleeps:

    together
      t1: read fd0 64
      t2: write fd0 "hello"
    schedule: t1 at mutex_lock -> t2

Expected: "INFO: task hung in waitlock_read". (The default order of the same two
with the write first deadlocks as well, and the first task blocked is then the
writer: "INFO: task hung in waitlock_write".) (msgq.py is the correct version:
read drops st.lock while it waits.)
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "message log (waits holding the writer's mutex)"

WAITLOCK_LOG = 256             # the log keeps the last bytes written
WAITLOCK_SEND_MS = 20          # the device takes a message

waitlock_dev = None            # the device's state, kzalloc'd at load


def waitlock_no_writer(st):
    """The wait's condition: no message in flight (read without the lock)."""
    return READ_ONCE(st, "writing") == 0


def waitlock_read(file, count):
    """The log, after any message in flight is in it."""
    st = waitlock_dev
    mutex_lock(st.lock)
    # BUG: waits holding st.lock, which the writer needs to finish its message
    wait_event(st.wq, lambda: waitlock_no_writer(st))
    data = st.log[:max(count, 0)]
    mutex_unlock(st.lock)
    return data


def waitlock_write(file, data):
    """A message: sent to the device (the mutex dropped while it takes it), then
    added to the log."""
    st = waitlock_dev
    n = min(len(data), WAITLOCK_LOG)
    mutex_lock(st.lock)
    WRITE_ONCE(st, "writing", st.writing + 1)
    mutex_unlock(st.lock)
    msleep(WAITLOCK_SEND_MS)           # the device takes the message
    mutex_lock(st.lock)                # blocks while a reader waits holding it
    st.log = (st.log + bytes(data[:n]))[-WAITLOCK_LOG:]
    WRITE_ONCE(st, "writing", st.writing - 1)
    mutex_unlock(st.lock)
    wake_up(st.wq)
    return n


waitlock_fops = FileOperations(owner=THIS_MODULE, read=waitlock_read, write=waitlock_write)
waitlock_misc = MiscDevice(name="waitlock", fops=waitlock_fops)


@module_init
def waitlock_init():
    global waitlock_dev
    st = kzalloc(32)
    if st is None:
        return -ENOMEM
    st.lock = mutex_init()
    st.wq = init_waitqueue_head()
    st.log = b""
    st.writing = 0
    waitlock_dev = st
    ret = misc_register(waitlock_misc)
    if ret:
        waitlock_dev = None
        kfree(st)
    return ret


@module_exit
def waitlock_exit():
    misc_deregister(waitlock_misc)
    kfree(waitlock_dev)
