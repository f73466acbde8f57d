"""scratchpad: co-processor scratch buffer, resized and used under one lock.

/dev/scratchpad is the buffer a co-processor works on: read and write reach it
under st.lock; ioctl SCRATCHPAD_IOC_RESIZE (0x7301, arg the size, clamped to
16..4096) gives it a new size, copying what fits; any other ioctl is a job for
the co-processor (its opcode the cmd, SCRATCHPAD_IOC_SUM 0x7302 the one it
knows), run on the buffer: the device answers with its sum. Every path
holds st.lock across its whole use of the buffer, the co-processor's sleeps
included, so a RESIZE never frees a buffer another ioctl still holds.

This is bufresize.py (target_modules/buggy/) done right.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "co-processor scratch buffer"

SCRATCHPAD_IOC_RESIZE = 0x7301   # arg: the new size in bytes, clamped to MIN..MAX
SCRATCHPAD_IOC_SUM = 0x7302      # a job: the device sums the buffer
SCRATCHPAD_MIN = 16              # bytes; the size at load too
SCRATCHPAD_MAX = 4096
SCRATCHPAD_JOB_MS = 32           # the co-processor runs a job
SCRATCHPAD_QUIESCE_MS = 16       # the co-processor stops using the buffer

scratchpad_dev = None            # the one device's state, kzalloc'd at load


def scratchpad_read(file, count):
    st = scratchpad_dev
    mutex_lock(st.lock)
    n = min(max(count, 0), st.size)
    data = st.buf[0:n]
    mutex_unlock(st.lock)
    return data


def scratchpad_write(file, data):
    st = scratchpad_dev
    mutex_lock(st.lock)
    n = min(len(data), st.size)
    st.buf[0:n] = data[:n]
    mutex_unlock(st.lock)
    return n


def scratchpad_ioctl(file, cmd, arg):
    st = scratchpad_dev
    if cmd == SCRATCHPAD_IOC_RESIZE:
        size = min(max(arg, SCRATCHPAD_MIN), SCRATCHPAD_MAX)
        mutex_lock(st.lock)       # held across the whole resize: nobody holds the old buffer
        msleep(SCRATCHPAD_QUIESCE_MS)  # the co-processor stops using the buffer
        new = kzalloc(size)
        if new is None:
            mutex_unlock(st.lock)
            return -ENOMEM
        n = min(size, st.size)
        new[0:n] = st.buf[0:n]
        kfree(st.buf)
        st.buf, st.size = new, size
        mutex_unlock(st.lock)
        return size
    # any other command is a job for the co-processor, its opcode the cmd: the
    # device reads the buffer and answers with its sum
    mutex_lock(st.lock)           # held across the job: the buffer cannot move under it
    msleep(SCRATCHPAD_JOB_MS)          # the job runs
    total = sum(st.buf[0:st.size])
    mutex_unlock(st.lock)
    if cmd != SCRATCHPAD_IOC_SUM:
        return -ENOTTY            # the device knows no other job
    return total


scratchpad_fops = FileOperations(owner=THIS_MODULE, read=scratchpad_read, write=scratchpad_write,
                                 unlocked_ioctl=scratchpad_ioctl)
scratchpad_misc = MiscDevice(name="scratchpad", fops=scratchpad_fops)


@module_init
def scratchpad_init():
    global scratchpad_dev
    st = kzalloc(32)
    if st is None:
        return -ENOMEM
    st.buf = kzalloc(SCRATCHPAD_MIN)
    if st.buf is None:
        kfree(st)
        return -ENOMEM
    st.size = SCRATCHPAD_MIN
    st.lock = mutex_init()
    scratchpad_dev = st
    ret = misc_register(scratchpad_misc)
    if ret:
        kfree(st.buf)
        kfree(st)
        scratchpad_dev = None
    return ret


@module_exit
def scratchpad_exit():
    misc_deregister(scratchpad_misc)
    kfree(scratchpad_dev.buf)
    kfree(scratchpad_dev)
