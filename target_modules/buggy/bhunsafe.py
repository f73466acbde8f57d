"""bhunsafe: a packet counter device whose stats lock a timer also takes; write() lacks _bh.

BUG (lockdep): bhunsafe_flush, a timer callback, runs in softirq context and
takes stats_lock; bhunsafe_write takes stats_lock with spin_lock(), softirqs
on. A timer that fires on this CPU while write() holds the lock spins on it
forever: write() must use spin_lock_bh.
Reach it with insmod, open /dev/bhunsafe, write, then tick 10 (or tick first,
then write).
Expected: "inconsistent lock state in bhunsafe_flush".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "packet counters flushed by a timer (softirq-unsafe lock)"

FLUSH_MS = 50

stats_lock = spin_lock_init()
stats = {"pending": 0, "total": 0}
flush_timer = None


def bhunsafe_flush(timer):
    spin_lock(stats_lock)             # softirq context: plain spin_lock is right here
    stats["total"] += stats["pending"]
    stats["pending"] = 0
    spin_unlock(stats_lock)
    mod_timer(timer, jiffies() + msecs_to_jiffies(FLUSH_MS))


def bhunsafe_write(file, data):
    spin_lock(stats_lock)             # BUG: softirqs stay on; must be spin_lock_bh
    stats["pending"] += len(data)
    spin_unlock(stats_lock)
    return len(data)


def bhunsafe_read(file, count):
    spin_lock_bh(stats_lock)
    text = f"total={stats['total']} pending={stats['pending']}\n"
    spin_unlock_bh(stats_lock)
    data = text.encode()[file.f_pos:file.f_pos + max(count, 0)]
    file.f_pos += len(data)
    return data


bhunsafe_fops = FileOperations(owner=THIS_MODULE, read=bhunsafe_read, write=bhunsafe_write)
bhunsafe_misc = MiscDevice(name="bhunsafe", fops=bhunsafe_fops)


@module_init
def bhunsafe_init():
    global flush_timer
    flush_timer = timer_setup(bhunsafe_flush)
    ret = misc_register(bhunsafe_misc)
    if ret:
        return ret
    mod_timer(flush_timer, jiffies() + msecs_to_jiffies(FLUSH_MS))
    return 0


@module_exit
def bhunsafe_exit():
    del_timer_sync(flush_timer)
    misc_deregister(bhunsafe_misc)
