"""addtimer: a serial-style device that batches writes and re-arms its flush timer with add_timer.

BUG (warning): every write() sets flush_timer.expires and calls add_timer();
a second write before the timer has fired calls add_timer() on a pending timer,
which Linux refuses with a WARNING (WARN_ON_ONCE(timer_pending(timer))); the
fix is mod_timer(). Reach it with two writes and no tick between them.
Expected: "WARNING: add_timer of a pending timer in addtimer_write".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "batching write device (add_timer on a pending timer)"

FLUSH_MS = 50
BATCH_MAX = 256

batch_lock = spin_lock_init()
batch = {"queued": 0, "flushed": 0}


def addtimer_flush(timer):
    spin_lock(batch_lock)
    batch["flushed"] += batch["queued"]
    batch["queued"] = 0
    spin_unlock(batch_lock)


flush_timer = timer_setup(addtimer_flush)


def addtimer_write(file, data):
    n = min(len(data), BATCH_MAX)
    spin_lock_bh(batch_lock)
    batch["queued"] += n
    spin_unlock_bh(batch_lock)
    flush_timer.expires = jiffies() + msecs_to_jiffies(FLUSH_MS)
    add_timer(flush_timer)            # BUG: pending after an earlier write; use mod_timer()
    return n


def addtimer_read(file, count):
    spin_lock_bh(batch_lock)
    text = f"queued={batch['queued']} flushed={batch['flushed']}\n"
    spin_unlock_bh(batch_lock)
    return text.encode()[:max(count, 0)]


addtimer_fops = FileOperations(owner=THIS_MODULE, read=addtimer_read, write=addtimer_write)
addtimer_misc = MiscDevice(name="addtimer", fops=addtimer_fops)


@module_init
def addtimer_init():
    return misc_register(addtimer_misc)


@module_exit
def addtimer_exit():
    misc_deregister(addtimer_misc)
    del_timer_sync(flush_timer)
