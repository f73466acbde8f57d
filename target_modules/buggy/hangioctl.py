"""hangioctl: a device whose "wait ready" ioctl spins forever.

BUG (hang): ioctl HANG_IOC_WAIT_READY busy-waits for a ready bit that the
simulated hardware never sets (`while True: pass`), so the calling task never
returns. Reach it with ioctl 0x6801. Expected: "INFO: task hung in
hangioctl_ioctl" (detected by the fuzzer's executor, issue 3).
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "device with a busy-wait ioctl"

HANG_IOC_WAIT_READY = 0x6801
HANG_IOC_STATUS = 0x6802

status = {"ready": False}


def hangioctl_ioctl(file, cmd, arg):
    if cmd == HANG_IOC_STATUS:
        return 1 if status["ready"] else 0
    if cmd == HANG_IOC_WAIT_READY:
        while True:                   # BUG: no timeout, nothing sets ready
            pass
    return -ENOTTY


hangioctl_fops = FileOperations(owner=THIS_MODULE, unlocked_ioctl=hangioctl_ioctl)
hangioctl_misc = MiscDevice(name="hangioctl", fops=hangioctl_fops)


@module_init
def hangioctl_init():
    return misc_register(hangioctl_misc)


@module_exit
def hangioctl_exit():
    misc_deregister(hangioctl_misc)
