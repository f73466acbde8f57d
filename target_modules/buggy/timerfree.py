"""timerfree: per-open sessions with an idle timeout, freed with the timer still armed.

BUG (warning): open() allocates a session whose idle_timer fires after IDLE_MS
without a read; timerfree_release kfree()s the session without del_timer_sync(),
so the freed struct holds a pending timer_list: DEBUG_OBJECTS_TIMERS reports it at
the kfree, even though timerfree_idle never touches the session (it only counts).
Reach it with an open and a close before the timeout.
Expected: "ODEBUG: free active object type: timer_list in timerfree_release".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "session device with idle timeouts (frees an armed timer)"

IDLE_MS = 200

stats = {"timeouts": 0, "sessions": 0}


def timerfree_idle(timer):
    stats["timeouts"] += 1


def timerfree_open(inode, file):
    s = kzalloc(32)
    if s is None:
        return -ENOMEM
    s.reads = 0
    s.idle_timer = timer_setup(timerfree_idle)
    mod_timer(s.idle_timer, jiffies() + msecs_to_jiffies(IDLE_MS))
    file.private_data = s
    stats["sessions"] += 1
    return 0


def timerfree_read(file, count):
    s = file.private_data
    s.reads += 1
    mod_timer(s.idle_timer, jiffies() + msecs_to_jiffies(IDLE_MS))
    return f"reads={s.reads} timeouts={stats['timeouts']}\n".encode()[:max(count, 0)]


def timerfree_release(inode, file):
    s = file.private_data
    kfree(s)                          # BUG: del_timer_sync(s.idle_timer) first
    return 0


timerfree_fops = FileOperations(owner=THIS_MODULE, open=timerfree_open,
                                read=timerfree_read, release=timerfree_release)
timerfree_misc = MiscDevice(name="timerfree", fops=timerfree_fops)


@module_init
def timerfree_init():
    return misc_register(timerfree_misc)


@module_exit
def timerfree_exit():
    misc_deregister(timerfree_misc)
