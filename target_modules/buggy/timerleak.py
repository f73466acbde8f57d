"""timerleak: a watchdog-style heartbeat whose timer outlives the module.

BUG (dangling-registration): init arms a self-rearming heartbeat timer, but
timerleak_exit forgets del_timer_sync(), so the timer is still armed after
rmmod (and would then run unloaded code at the next tick).
Reach it with insmod then rmmod.
Expected: "WARNING: dangling timer timerleak_beat after unload".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "heartbeat timer"

BEAT_MS = 500

beats = 0
beat_timer = None


def timerleak_beat(timer):
    global beats
    beats += 1
    mod_timer(timer, jiffies() + msecs_to_jiffies(BEAT_MS))


@module_init
def timerleak_init():
    global beat_timer
    beat_timer = timer_setup(timerleak_beat)
    mod_timer(beat_timer, jiffies() + msecs_to_jiffies(BEAT_MS))
    return 0


@module_exit
def timerleak_exit():
    pr_info(f"timerleak: {beats} beats")
    # BUG: del_timer_sync(beat_timer) missing
