"""procfs entries and PM notifiers."""

import errno

from kfuzz.kapi import PM_POST_SUSPEND, PM_SUSPEND_PREPARE, ProcEntry, platform_device_id

PROC = """
    got = []


    def ps_read(file, count):
        data = b"stats: 3\\n"[file.f_pos:file.f_pos + count]
        file.f_pos += len(data)
        return data


    fops = FileOperations(owner=THIS_MODULE, read=ps_read)


    def ps_ioctl(file, cmd, arg):
        if cmd == 1:
            got.append(proc_create("ps_stats", 0o444, fops))
        if cmd == 2:
            remove_proc_entry("ps_stats")
        return 0
"""


def test_proc_entry_is_read_through_proc(lab):
    lab.device("ps", PROC)
    k = lab.boot()
    assert lab.insmod("ps") == 0
    lab.ioctl("ps", 1)
    entry = lab.ns("ps")["got"][0]
    assert isinstance(entry, ProcEntry) and entry.name == "ps_stats"
    file = k.do("open", "/proc/ps_stats", nobody=True)
    assert k.do("read", file, 4) == b"stat"
    assert k.do("read", file, 100) == b"s: 3\n"
    assert k.do("read", file, 100) == b""
    assert k.do("close", file) == 0
    lab.ioctl("ps", 1)
    assert lab.ns("ps")["got"][1] is None, "the name is taken"
    assert "proc_dir_entry '/proc/ps_stats' already registered" in lab.dmesg()
    lab.ioctl("ps", 2)
    assert k.do("open", "/proc/ps_stats") == -errno.ENOENT
    assert k.findings == []


def test_removing_an_unknown_proc_entry_warns(lab):
    lab.device("ps", PROC)
    k = lab.boot()
    lab.insmod("ps")
    lab.ioctl("ps", 2)
    assert lab.findings() == [("warning", "WARNING: remove_proc_entry of unknown entry in ps_ioctl")]
    assert k.findings[0].module == "ps"


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
