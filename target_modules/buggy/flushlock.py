"""flushlock: a config store whose SYNC ioctl flushes its commit work under the work's mutex.

BUG (lockdep): write() stores a new config under cfg_mutex and schedules
commit_work; flushlock_commit (the work) takes cfg_mutex to apply it. ioctl
FLUSHLOCK_IOC_SYNC takes cfg_mutex and then calls flush_work(commit_work), which
waits for a work that needs cfg_mutex: a deadlock whenever the work is queued or
running. Reach it with a write and then the SYNC ioctl (with or without a tick in
between).
Expected: "possible circular locking dependency in flushlock_commit" (the work, run
by the flush, closes the cycle) or, when the work already ran once before the
flush, "possible circular locking dependency in flushlock_ioctl".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "config store with a commit work (flushes it under its own mutex)"

FLUSHLOCK_IOC_SYNC = 0x6601
MAX_CONFIG = 64

cfg_mutex = mutex_init()
cfg = {"pending": b"", "applied": b"", "commits": 0}


def flushlock_commit(work):
    mutex_lock(cfg_mutex)
    cfg["applied"] = cfg["pending"]
    cfg["commits"] += 1
    mutex_unlock(cfg_mutex)


commit_work = INIT_WORK(flushlock_commit)


def flushlock_write(file, data):
    n = min(len(data), MAX_CONFIG)
    mutex_lock(cfg_mutex)
    cfg["pending"] = bytes(data[:n])
    mutex_unlock(cfg_mutex)
    schedule_work(commit_work)
    return n


def flushlock_read(file, count):
    mutex_lock(cfg_mutex)
    data = cfg["applied"]
    mutex_unlock(cfg_mutex)
    return data[:max(count, 0)]


def flushlock_ioctl(file, cmd, arg):
    if cmd != FLUSHLOCK_IOC_SYNC:
        return -ENOTTY
    mutex_lock(cfg_mutex)
    flush_work(commit_work)           # BUG: flushlock_commit needs cfg_mutex; flush unlocked
    n = cfg["commits"]
    mutex_unlock(cfg_mutex)
    return n


flushlock_fops = FileOperations(owner=THIS_MODULE, read=flushlock_read,
                                write=flushlock_write, unlocked_ioctl=flushlock_ioctl)
flushlock_misc = MiscDevice(name="flushlock", fops=flushlock_fops)


@module_init
def flushlock_init():
    return misc_register(flushlock_misc)


@module_exit
def flushlock_exit():
    misc_deregister(flushlock_misc)
    cancel_work_sync(commit_work)
