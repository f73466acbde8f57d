"""warnon: a fan controller that WARNs on a user-reachable duty cycle.

BUG (warning): ioctl WARNON_IOC_SET_DUTY checks the duty cycle with
WARN_ON(duty > 100) instead of returning -EINVAL, so any user can trigger the
warning with ioctl 0x7701 and an argument above 100.
Expected: "WARNING in warnon_ioctl".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "fan duty-cycle control"

WARNON_IOC_SET_DUTY = 0x7701

duty = [50]


def warnon_ioctl(file, cmd, arg):
    if cmd != WARNON_IOC_SET_DUTY:
        return -ENOTTY
    if WARN_ON(arg > 100):            # BUG: user input, should be -EINVAL
        arg = 100
    duty[0] = max(arg, 0)
    return 0


def warnon_read(file, count):
    return (b"%d\n" % duty[0])[:max(count, 0)]


warnon_fops = FileOperations(owner=THIS_MODULE, read=warnon_read,
                             unlocked_ioctl=warnon_ioctl)
warnon_misc = MiscDevice(name="warnon", fops=warnon_fops)


@module_init
def warnon_init():
    return misc_register(warnon_misc)


@module_exit
def warnon_exit():
    misc_deregister(warnon_misc)
