"""timersync: a software watchdog whose release waits for its timer under the timer's lock.

BUG (lockdep): opening /dev/timersync starts a keepalive timer whose callback,
timersync_ping, takes wdog_lock. timersync_release takes wdog_lock and then calls
del_timer_sync(), which waits for timersync_ping to finish: if the ping runs on
another CPU it spins on wdog_lock forever (the ABBA of lock and timer). lockdep sees
it as wdog_lock -> (timer)timersync_ping against (timer)timersync_ping -> wdog_lock,
once both have run. Reach it with an open, a tick that lets the ping run, and the
close (the clean-up closes it too).
Expected: "possible circular locking dependency in timersync_release"
(or in timersync_ping, when the release ran before the ping).
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "software watchdog (waits for its timer under the timer's lock)"

PING_MS = 10

wdog_lock = spin_lock_init()
wdog = {"active": False, "pings": 0}


def timersync_ping(timer):
    spin_lock(wdog_lock)              # softirq: interrupts on, bottom halves already off
    if wdog["active"]:
        wdog["pings"] += 1
        mod_timer(timer, jiffies() + msecs_to_jiffies(PING_MS))
    spin_unlock(wdog_lock)


wdog_timer = timer_setup(timersync_ping)


def timersync_open(inode, file):
    spin_lock_bh(wdog_lock)
    if wdog["active"]:
        spin_unlock_bh(wdog_lock)
        return -EBUSY
    wdog["active"] = True
    spin_unlock_bh(wdog_lock)
    mod_timer(wdog_timer, jiffies() + msecs_to_jiffies(PING_MS))
    return 0


def timersync_read(file, count):
    spin_lock_bh(wdog_lock)
    text = f"pings={wdog['pings']}\n"
    spin_unlock_bh(wdog_lock)
    return text.encode()[:max(count, 0)]


def timersync_release(inode, file):
    spin_lock_bh(wdog_lock)
    wdog["active"] = False
    del_timer_sync(wdog_timer)        # BUG: timersync_ping takes wdog_lock; call it unlocked
    spin_unlock_bh(wdog_lock)
    return 0


timersync_fops = FileOperations(owner=THIS_MODULE, open=timersync_open,
                                read=timersync_read, release=timersync_release)
timersync_misc = MiscDevice(name="timersync", fops=timersync_fops)


@module_init
def timersync_init():
    return misc_register(timersync_misc)


@module_exit
def timersync_exit():
    misc_deregister(timersync_misc)
    del_timer_sync(wdog_timer)
