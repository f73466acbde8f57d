"""modref: a firmware-job ioctl that leaks a module reference on bad input.

BUG (refcount): modref_ioctl pins its module (try_module_get) for the length of
a job, then returns -EINVAL for an out-of-range job id without module_put().
The module can then never be unloaded. Reach it with open, ioctl 0x6d01 with
arg 99, close: the clean-up's rmmod fails with -EBUSY.
Expected: "module modref: reference leaked in modref_ioctl".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "job runner that pins its module while a job runs"

MODREF_IOC_RUN = 0x6D01
MODREF_MAX_JOB = 8

jobs_done = [0] * MODREF_MAX_JOB


def modref_ioctl(file, cmd, arg):
    if cmd != MODREF_IOC_RUN:
        return -ENOTTY
    if not try_module_get(THIS_MODULE):
        return -ENODEV
    if arg < 0 or arg >= MODREF_MAX_JOB:
        return -EINVAL                # BUG: module_put(THIS_MODULE) missing
    jobs_done[arg] += 1
    module_put(THIS_MODULE)
    return jobs_done[arg]


modref_fops = FileOperations(owner=THIS_MODULE, unlocked_ioctl=modref_ioctl)
modref_misc = MiscDevice(name="modref", fops=modref_fops)


@module_init
def modref_init():
    return misc_register(modref_misc)


@module_exit
def modref_exit():
    misc_deregister(modref_misc)
