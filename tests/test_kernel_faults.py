"""Fault injection: `fail_nth` fails the N-th fallible call module code makes."""

import errno

import pytest

from kfuzz.kapi import platform_device_id

FAULTS = """
    got = []
    the_dev = None


    def fi_handler(*args):
        return 0


    def fi_probe(dev, id):
        global the_dev
        the_dev = dev
        return 0


    drv = Driver(name="fidrv", bus="platform", id_table=[platform_device_id("fidev")], probe=fi_probe)


    def fi_ioctl(file, cmd, arg):
        dev = the_dev
        got.append({call})
        return 0


    def fi_setup():
        return driver_register(drv)
"""

FALLIBLE = {
    "kmalloc": ("kmalloc(8)", None),
    "kzalloc": ("kzalloc(8)", None),
    "devm_kzalloc": ("devm_kzalloc(dev, 8)", None),
    "register_chrdev": ('register_chrdev(0, "fi_cd", FileOperations())', -errno.ENOMEM),
    "misc_register": ('misc_register(MiscDevice(name="fi_misc", fops=FileOperations()))', -errno.ENOMEM),
    "driver_register": ('driver_register(Driver(name="fi2", bus="pci"))', -errno.ENOMEM),
    "request_irq": ('request_irq(70, fi_handler, 0, "fi", None)', -errno.ENOMEM),
    "devm_request_irq": ('devm_request_irq(dev, 71, fi_handler, 0, "fi", None)', -errno.ENOMEM),
    "alloc_workqueue": ('alloc_workqueue("fi_wq")', None),
    "proc_create": ('proc_create("fi", 0o444, FileOperations())', None),
    "register_pm_notifier": ("register_pm_notifier(fi_handler)", -errno.ENOMEM),
}


def faults(lab, call):
    lab.device("fi", FAULTS.format(call=call))
    k = lab.boot()
    assert lab.insmod("fi") == 0, lab.dmesg()
    assert k.do("plug", "platform", platform_device_id("fidev")).driver is not None
    file = k.do("open", "/dev/fi")
    return k, file


@pytest.mark.parametrize("name", FALLIBLE)
def test_each_fallible_call_can_be_made_to_fail(lab, name):
    call, failed = FALLIBLE[name]
    k, file = faults(lab, call)
    k.do("ioctl", file, 0, 0, fail_nth=1)
    k.do("ioctl", file, 0, 0)
    got = lab.ns("fi")["got"]
    assert got[0] == failed, got
    assert got[1] != failed and got[1] is not None, "without fail_nth it succeeds"
    assert f"FAULT_INJECTION: forcing a failure: {name} in fi_ioctl" in lab.dmesg()
    assert k.findings == []


def test_fail_nth_fails_only_the_nth_call(lab):
    k, file = faults(lab, "[kmalloc(1) is None for _ in range(4)]")
    k.do("ioctl", file, 0, 0, fail_nth=2)
    k.do("ioctl", file, 0, 0, fail_nth=9)
    assert lab.ns("fi")["got"] == [[False, True, False, False], [False] * 4]


def test_calls_that_do_not_allocate_or_register_are_not_counted(lab):
    k, file = faults(lab, """(mutex_init(), spin_lock_init(), timer_setup(fi_handler),
                               INIT_WORK(fi_handler), refcount_t(1), kref_init(), pr_info("x"),
                               jiffies(), kmalloc(4))[-1]""".replace("\n", " "))
    k.do("ioctl", file, 0, 0, fail_nth=1)
    assert lab.ns("fi")["got"] == [None]


@pytest.mark.parametrize("op", ["open", "insmod", "plug"])
def test_the_kernels_own_work_in_an_operation_is_not_counted(lab, op):
    lab.module("fo", """
        MODULE_DEVICE_TABLE = [platform_device_id("fodev")]
        got = []


        def fo_open(inode, file):
            got.append(kmalloc(4))
            return 0


        misc = MiscDevice(name="fo", fops=FileOperations(owner=THIS_MODULE, open=fo_open))


        @module_init
        def fo_init():
            got.append(kmalloc(4))
            return misc_register(misc)
    """)
    k = lab.boot()
    if op == "open":
        assert lab.insmod("fo") == 0
        k.do("open", "/dev/fo", fail_nth=1)
        assert lab.ns("fo")["got"][1:] == [None]
    elif op == "insmod":
        k.do("insmod", "fo", {}, fail_nth=1)
        assert "fo" in k.loader.modules and lab.ns("fo")["got"] == [None]
    else:
        k.do("plug", "platform", platform_device_id("fodev"), fail_nth=1)
        assert "fo" in k.loader.modules, "autoloaded by the plug"
        assert lab.ns("fo")["got"] == [None]


def test_fault_in_init_fails_the_load_cleanly_when_the_module_handles_it(lab):
    lab.module("fh", """
        bufs = []


        @module_init
        def fh_init():
            for _ in range(3):
                buf = kmalloc(16)
                if buf is None:
                    for b in bufs:
                        kfree(b)
                    return -ENOMEM
                bufs.append(buf)
            return 0


        @module_exit
        def fh_exit():
            for b in bufs:
                kfree(b)
    """)
    k = lab.boot()
    for nth in (1, 2, 3):
        assert k.do("insmod", "fh", {}, fail_nth=nth) == -errno.ENOMEM
        assert k.loader.modules == {} and k.mm.live == {}
    assert k.do("insmod", "fh", {}, fail_nth=4) == 0
    assert k.findings == []
