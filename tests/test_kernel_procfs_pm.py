"""PM notifiers (procfs: test_kernel_procfs.py)."""

import errno

from kfuzz.kapi import PM_POST_SUSPEND, PM_SUSPEND_PREPARE, platform_device_id

PM = """
    events = []
    got = []


    def pm_cb(event):
        events.append(("notifier", event))
        return NOTIFY_OK


    def pm_probe(dev, id):
        return 0


    def pm_suspend(dev):
        events.append(("suspend", dev.name))
        return 0


    def pm_resume(dev):
        events.append(("resume", dev.name))
        return 0


    drv = Driver(name="pmdrv", bus="platform", id_table=[platform_device_id("pmdev")],
                 probe=pm_probe, suspend=pm_suspend, resume=pm_resume)


    @module_init
    def pm_init():
        got.append(register_pm_notifier(pm_cb))
        return driver_register(drv)


    @module_exit
    def pm_exit():
        driver_unregister(drv)
        unregister_pm_notifier(pm_cb)
"""


def test_pm_notifier_sees_prepare_then_post_around_the_devices(lab):
    lab.module("pm", PM)
    k = lab.boot()
    assert lab.insmod("pm") == 0
    dev = k.do("plug", "platform", platform_device_id("pmdev"))
    assert k.do("suspend") == 0
    assert lab.ns("pm")["events"] == [
        ("notifier", PM_SUSPEND_PREPARE), ("suspend", dev.name), ("resume", dev.name),
        ("notifier", PM_POST_SUSPEND)]
    assert k.do("rmmod", "pm") == 0
    assert k.findings == []


def test_registering_a_pm_notifier_twice_warns_and_is_eexist(lab):
    twice = "got.append(register_pm_notifier(pm_cb))"
    lab.module("pm", PM.replace(twice, f"{twice}\n        {twice}"))
    k = lab.boot()
    assert lab.insmod("pm") == 0
    assert lab.ns("pm")["got"] == [0, -errno.EEXIST]
    assert lab.findings() == [("warning", "WARNING: notifier registered twice in pm_init")]
    assert "W" in k.taint_string()
    k.do("suspend")
    assert [e for e in lab.ns("pm")["events"] if e[0] == "notifier"] == [
        ("notifier", PM_SUSPEND_PREPARE), ("notifier", PM_POST_SUSPEND)], "registered once"


def test_unregistered_pm_notifier_is_not_called(lab):
    lab.module("pm", PM.replace("return driver_register(drv)",
                                "unregister_pm_notifier(pm_cb)\n        return driver_register(drv)"))
    k = lab.boot()
    assert lab.insmod("pm") == 0
    assert k.do("suspend") == 0
    assert lab.ns("pm")["events"] == []
