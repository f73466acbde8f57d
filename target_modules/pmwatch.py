"""pmwatch: counts system suspend cycles, seen two ways.

A PM notifier counts PM_SUSPEND_PREPARE and PM_POST_SUSPEND events; a platform
driver bound to the "pmwatch" platform device counts its suspend() and
resume() callbacks. /dev/pmwatch (misc) reads back
"prepare=P post=Q suspend=S resume=R\\n". An unbalanced count is logged.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "Dual MIT/GPL"
MODULE_DESCRIPTION = "PM notifier and platform suspend/resume counter"
MODULE_DEVICE_TABLE = [platform_device_id("pmwatch")]

counts = {"prepare": 0, "post": 0, "suspend": 0, "resume": 0}


def pmwatch_notify(event):
    if event == PM_SUSPEND_PREPARE:
        counts["prepare"] += 1
    elif event == PM_POST_SUSPEND:
        counts["post"] += 1
    return 0


def pmwatch_suspend(dev):
    counts["suspend"] += 1
    return 0


def pmwatch_resume(dev):
    counts["resume"] += 1
    return 0


def pmwatch_probe(dev, id):
    dev_info(dev, "pmwatch: bound")
    return 0


def pmwatch_remove(dev):
    dev_info(dev, "pmwatch: unbound")


def pmwatch_read(file, count):
    text = "prepare={prepare} post={post} suspend={suspend} resume={resume}\n".format(**counts)
    data = text.encode()[file.f_pos:file.f_pos + max(count, 0)]
    file.f_pos += len(data)
    return data


pmwatch_fops = FileOperations(owner=THIS_MODULE, read=pmwatch_read)
pmwatch_misc = MiscDevice(name="pmwatch", fops=pmwatch_fops)
pmwatch_driver = Driver(name="pmwatch", bus="platform",
                        id_table=MODULE_DEVICE_TABLE, probe=pmwatch_probe,
                        remove=pmwatch_remove, suspend=pmwatch_suspend,
                        resume=pmwatch_resume)


@module_init
def pmwatch_init():
    ret = register_pm_notifier(pmwatch_notify)
    if ret:
        return ret
    ret = driver_register(pmwatch_driver)
    if ret:
        unregister_pm_notifier(pmwatch_notify)
        return ret
    ret = misc_register(pmwatch_misc)
    if ret:
        driver_unregister(pmwatch_driver)
        unregister_pm_notifier(pmwatch_notify)
        return ret
    return 0


@module_exit
def pmwatch_exit():
    misc_deregister(pmwatch_misc)
    driver_unregister(pmwatch_driver)
    unregister_pm_notifier(pmwatch_notify)
    if counts["prepare"] != counts["post"]:
        pr_warn("pmwatch: unbalanced PM events {prepare}/{post}".format(**counts))
