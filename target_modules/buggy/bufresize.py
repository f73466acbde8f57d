"""bufresize: co-processor scratch buffer whose ioctls drop the lock while they use it.

/dev/bufresize is the buffer a co-processor works on: read and write reach it
under st.lock; ioctl BUFRESIZE_IOC_RESIZE (0x7301, arg the size) gives it a new
size, copying what fits; any other ioctl is a job for the co-processor (its
opcode the cmd, BUFRESIZE_IOC_SUM 0x7302 the one it knows), run on the buffer.

BUG (use-after-free): both paths take the buffer's pointer under st.lock and
drop the lock while the co-processor works (so that read and write need not wait
for it), then use that pointer again; RESIZE kfree()s the old buffer. A job that
runs while a RESIZE replaces the buffer sums freed memory, and a RESIZE that
runs while another replaces it copies from freed memory. One at a time they are
clean; the second ioctl must come while the first sleeps:

    together
      t1: ioctl fd0 0x7302 0
      t2: ioctl fd0 0x7301 128
    schedule: t1 at msleep -> t2

Expected: "KASAN: use-after-free in bufresize_ioctl". (scratchpad.py is the
correct version: each ioctl holds st.lock across its whole use of the buffer.)
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "co-processor scratch buffer (stale pointer across sleeps)"

BUFRESIZE_IOC_RESIZE = 0x7301   # arg: the new size in bytes, clamped to MIN..MAX
BUFRESIZE_IOC_SUM = 0x7302      # a job: the device sums the buffer
BUFRESIZE_MIN = 16              # bytes; the size at load too
BUFRESIZE_MAX = 4096
BUFRESIZE_JOB_MS = 32           # the co-processor runs a job
BUFRESIZE_QUIESCE_MS = 16       # the co-processor stops using the buffer

bufresize_dev = None            # the one device's state, kzalloc'd at load


def bufresize_read(file, count):
    st = bufresize_dev
    mutex_lock(st.lock)
    n = min(max(count, 0), st.size)
    data = st.buf[0:n]
    mutex_unlock(st.lock)
    return data


def bufresize_write(file, data):
    st = bufresize_dev
    mutex_lock(st.lock)
    n = min(len(data), st.size)
    st.buf[0:n] = data[:n]
    mutex_unlock(st.lock)
    return n


def bufresize_ioctl(file, cmd, arg):
    st = bufresize_dev
    if cmd == BUFRESIZE_IOC_RESIZE:
        size = min(max(arg, BUFRESIZE_MIN), BUFRESIZE_MAX)
        mutex_lock(st.lock)
        old, oldsize = st.buf, st.size
        mutex_unlock(st.lock)     # BUG: the lock is dropped, old is still ours to copy and free
        msleep(BUFRESIZE_QUIESCE_MS)  # the co-processor stops using the buffer
        new = kzalloc(size)
        if new is None:
            return -ENOMEM
        mutex_lock(st.lock)
        n = min(size, oldsize)
        new[0:n] = old[0:n]       # use-after-free if another RESIZE freed old meanwhile
        st.buf, st.size = new, size
        kfree(old)
        mutex_unlock(st.lock)
        return size
    # any other command is a job for the co-processor, its opcode the cmd: the
    # device reads the buffer and answers with its sum
    mutex_lock(st.lock)
    buf, size = st.buf, st.size
    mutex_unlock(st.lock)         # BUG: buf is used after the lock is dropped
    msleep(BUFRESIZE_JOB_MS)          # the job runs
    mutex_lock(st.lock)
    total = sum(buf[0:size])      # use-after-free if a RESIZE freed buf meanwhile
    mutex_unlock(st.lock)
    if cmd != BUFRESIZE_IOC_SUM:
        return -ENOTTY            # the device knows no other job
    return total


bufresize_fops = FileOperations(owner=THIS_MODULE, read=bufresize_read, write=bufresize_write,
                                unlocked_ioctl=bufresize_ioctl)
bufresize_misc = MiscDevice(name="bufresize", fops=bufresize_fops)


@module_init
def bufresize_init():
    global bufresize_dev
    st = kzalloc(32)
    if st is None:
        return -ENOMEM
    st.buf = kzalloc(BUFRESIZE_MIN)
    if st.buf is None:
        kfree(st)
        return -ENOMEM
    st.size = BUFRESIZE_MIN
    st.lock = mutex_init()
    bufresize_dev = st
    ret = misc_register(bufresize_misc)
    if ret:
        kfree(st.buf)
        kfree(st)
        bufresize_dev = None
    return ret


@module_exit
def bufresize_exit():
    misc_deregister(bufresize_misc)
    kfree(bufresize_dev.buf)
    kfree(bufresize_dev)
