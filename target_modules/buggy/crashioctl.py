"""crashioctl: a device whose "reset" ioctl kills the kernel process.

BUG (crash): ioctl CRASH_IOC_RESET calls os._exit(3), standing in for a wild
jump that takes the whole machine down: the process running the kernel exits
with no Python exception to catch. Reach it with ioctl 0x6301. Detected by
the fuzzer's executor (issue 3); title to be defined there.
"""
import os

from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "device with a process-killing reset"

CRASH_IOC_RESET = 0x6301
CRASH_IOC_PING = 0x6302


def crashioctl_ioctl(file, cmd, arg):
    if cmd == CRASH_IOC_PING:
        return 0
    if cmd == CRASH_IOC_RESET:
        os._exit(3)                   # BUG: kills the process
    return -ENOTTY


crashioctl_fops = FileOperations(owner=THIS_MODULE,
                                 unlocked_ioctl=crashioctl_ioctl)
crashioctl_misc = MiscDevice(name="crashioctl", fops=crashioctl_fops)


@module_init
def crashioctl_init():
    return misc_register(crashioctl_misc)


@module_exit
def crashioctl_exit():
    misc_deregister(crashioctl_misc)
