"""Buses, drivers and devices: probe, remove, devres, drvdata, hotplug, suspend."""

import errno

import pytest

from kfuzz.kapi import PCI_ANY_ID, Device, pci_device_id, platform_device_id, usb_device_id
from kfuzz.kernel.pm import PM_POST_SUSPEND, PM_SUSPEND_PREPARE

DRIVER = """
    MODULE_DEVICE_TABLE = [{ids}]
    {top}
    events = []


    def drv_probe(dev, id):
        events.append(("probe", dev.name, dev.bus, dev.id, id, dev.irq))
        dev_set_drvdata(dev, "data of " + dev.name)
        return -ENODEV if dev.name in fail_probe.split(",") else 0


    def drv_remove(dev):
        events.append(("remove", dev.name, dev_get_drvdata(dev)))


    def drv_suspend(dev):
        events.append(("suspend", dev.name))
        return -EIO if dev.name in FAIL_SUSPEND else 0


    def drv_resume(dev):
        events.append(("resume", dev.name))
        return 0


    fail_probe = module_param("fail_probe", str, "", desc="devices whose probe fails")
    FAIL_SUSPEND = []
    drv = Driver(name="{name}", bus="{bus}", id_table=MODULE_DEVICE_TABLE, probe=drv_probe,
                 remove=drv_remove, suspend=drv_suspend, resume=drv_resume)


    @module_init
    def drv_init():
        return driver_register(drv)


    @module_exit
    def drv_exit():
        driver_unregister(drv)
"""


def driver(lab, name="pdrv", bus="pci", ids="pci_device_id(0x8086, 0x1234)", top=""):
    return lab.module(name, DRIVER.format(name=name, bus=bus, ids=ids, top=top))


PCI = pci_device_id(0x8086, 0x1234)


def test_driver_binds_present_devices_and_plugged_ones(lab):
    driver(lab)
    k = lab.boot(autoload=False)
    early = k.do("plug", "pci", PCI)
    other = k.do("plug", "pci", pci_device_id(0x8086, 0x9999))
    assert isinstance(early, Device) and early.driver is None
    assert lab.insmod("pdrv") == 0
    events = lab.ns("pdrv")["events"]
    late = k.do("plug", "pci", PCI)
    assert events == [("probe", early.name, "pci", PCI, PCI, early.irq),
                      ("probe", late.name, "pci", PCI, PCI, late.irq)]
    assert early.irq != late.irq and other.driver is None
    assert k.do("unplug", late) == 0
    assert events[-1] == ("remove", late.name, f"data of {late.name}")
    assert late.drvdata is None
    assert k.do("rmmod", "pdrv") == 0, "a bound device does not pin its driver's module"
    assert events[-1] == ("remove", early.name, f"data of {early.name}")
    assert early.driver is None and k.findings == []


@pytest.mark.parametrize("bus, entry, dev_id, other", [
    ("usb", usb_device_id(0x046D, 0xC52B), usb_device_id(0x046D, 0xC52B), pci_device_id(0x046D, 0xC52B)),
    ("platform", platform_device_id("leds-gpio"), platform_device_id("leds-gpio"),
     platform_device_id("leds-pwm")),
    ("pci", pci_device_id(0x8086, PCI_ANY_ID), pci_device_id(0x8086, 0x0001), pci_device_id(0x8087, 1)),
])
def test_usb_platform_and_wildcard_ids_match(lab, bus, entry, dev_id, other):
    maker = f"{bus}_device_id"
    ids = f"{maker}({entry.name!r})" if bus == "platform" else f"{maker}({entry.vendor}, {entry.device})"
    driver(lab, "anydrv", bus, ids)
    k = lab.boot(autoload=False)
    assert lab.insmod("anydrv") == 0
    dev = k.do("plug", bus, dev_id)
    assert dev.driver is not None and dev.bus == bus
    assert k.do("plug", other.bus, other).driver is None
    assert lab.ns("anydrv")["events"] == [("probe", dev.name, bus, dev_id, entry, dev.irq)], \
        "probe gets the device and the table entry that matched"


def test_failed_probe_leaves_the_device_unbound_and_register_goes_on(lab):
    driver(lab)
    k = lab.boot(autoload=False)
    first = k.do("plug", "pci", PCI)
    second = k.do("plug", "pci", PCI)
    assert lab.insmod("pdrv", fail_probe=first.name) == 0
    assert first.driver is None and first.drvdata is None
    assert second.driver is not None
    assert [e[:2] for e in lab.ns("pdrv")["events"]] == [("probe", first.name), ("probe", second.name)]
    assert f"pdrv: probe of {first.name} failed with error -19" in lab.dmesg()
    assert k.do("rmmod", "pdrv") == 0
    assert lab.findings() == []


DEVRES = """
    MODULE_DEVICE_TABLE = [pci_device_id(0x8086, 0x1234)]
    seen = []


    def dv_irq(irq, dev_id):
        return IRQ_HANDLED


    def dv_probe(dev, id):
        first = devm_kzalloc(dev, 8)
        ret = devm_request_irq(dev, dev.irq, dv_irq, 0, "dv", dev)
        last = devm_kzalloc(dev, 16)
        dev_set_drvdata(dev, last)
        seen.append(ret)
        return {ret}


    def dv_remove(dev):
        buf = dev_get_drvdata(dev)
        buf[0] = 1  # still there while remove() runs
        seen.append("remove")


    drv = Driver(name="dv", bus="pci", id_table=MODULE_DEVICE_TABLE, probe=dv_probe, remove=dv_remove)


    @module_init
    def dv_init():
        return driver_register(drv)


    @module_exit
    def dv_exit():
        driver_unregister(drv)
"""


def record_releases(k, monkeypatch):
    """The devres releases, in order, as (what, size or irq) pairs."""
    released = []
    free, irq_free = k.mm.free, k.irqs.free
    monkeypatch.setattr(k.mm, "free",
                        lambda buf, *by: (released.append(("kfree", len(buf))), free(buf, *by)))
    monkeypatch.setattr(k.irqs, "free",
                        lambda irq, dev_id: (released.append(("free_irq", irq)), irq_free(irq, dev_id)))
    return released


@pytest.mark.parametrize("probe_ret", ["0", "-ENODEV"])
def test_devres_is_released_in_reverse_after_remove_or_a_failed_probe(lab, monkeypatch, probe_ret):
    lab.module("dv", DEVRES.format(ret="ret" if probe_ret == "0" else probe_ret))
    k = lab.boot()
    released = record_releases(k, monkeypatch)
    dev = k.do("plug", "pci", PCI)
    assert "dv" in k.loader.modules
    if probe_ret == "0":
        assert dev.driver is not None and released == []
        assert k.do("unplug", dev) == 0
        assert lab.ns("dv")["seen"] == [0, "remove"]
    assert released == [("kfree", 16), ("free_irq", dev.irq), ("kfree", 8)]
    assert k.mm.live == {} and k.irqs.owned_by(k.loader.modules["dv"]) == []
    assert k.do("irq", dev.irq) == 0 and "nobody cared" in lab.dmesg()
    assert k.do("rmmod", "dv") == 0
    assert k.findings == []


def test_plugging_a_device_autoloads_the_module_of_its_table(lab):
    lab.module("lib", """
        def lib_fn():
            return 0


        EXPORT_SYMBOL(lib_fn)


        @module_init
        def lib_init():
            return 0


        @module_exit
        def lib_exit():
            pass
    """)
    driver(lab, top='lib_fn = import_symbol("lib_fn")')
    k = lab.boot()
    assert k.do("plug", "pci", pci_device_id(0x8086, 0x4321)).driver is None
    assert k.loader.modules == {}
    dev = k.do("plug", "pci", PCI)
    assert list(k.loader.modules) == ["lib", "pdrv"], "modprobe loads what the driver uses"
    assert dev.driver is not None and dev.driver.name == "pdrv"
    assert k.findings == []


def test_no_autoload_when_it_is_off(lab):
    driver(lab)
    k = lab.boot(autoload=False)
    dev = k.do("plug", "pci", PCI)
    assert dev.driver is None and k.loader.modules == {}


def test_suspend_runs_last_bound_first_and_resumes_in_reverse(lab):
    driver(lab)
    k = lab.boot()
    devs = [k.do("plug", "pci", PCI) for _ in range(3)]
    events = lab.ns("pdrv")["events"]
    del events[:]
    assert k.do("suspend") == 0
    names = [d.name for d in devs]
    assert events == [("suspend", n) for n in reversed(names)] + [("resume", n) for n in names]


def test_failed_suspend_resumes_what_was_suspended_and_returns_the_errno(lab):
    driver(lab)
    k = lab.boot()
    devs = [k.do("plug", "pci", PCI) for _ in range(3)]
    events = lab.ns("pdrv")["events"]
    lab.ns("pdrv")["FAIL_SUSPEND"].append(devs[1].name)
    del events[:]
    assert k.do("suspend") == -errno.EIO
    a, b, c = (d.name for d in devs)
    assert events == [("suspend", c), ("suspend", b), ("resume", c)]
    assert k.findings == []


def test_plug_unplug_and_suspend_need_root(lab):
    k = lab.boot()
    assert k.do("plug", "pci", PCI, nobody=True) == -errno.EPERM
    dev = k.do("plug", "pci", PCI)
    assert k.do("unplug", dev, nobody=True) == -errno.EPERM
    assert k.do("suspend", nobody=True) == -errno.EPERM
    assert k.do("unplug", dev) == 0
    assert k.do("unplug", dev) == -errno.EINVAL


def test_driver_unregister_removes_the_device_bound_last_first(lab):
    """driver_detach (drivers/base/dd.c) takes devices from the tail of the driver's list."""
    driver(lab)
    k = lab.boot()
    a, b, c = (k.do("plug", "pci", PCI) for _ in range(3))
    assert k.run_op(k.bus.unbind_device, a) == 0 and k.run_op(k.bus.bind_device, a) == 0  # a: last bound
    events = lab.ns("pdrv")["events"]
    del events[:]
    assert k.do("rmmod", "pdrv") == 0
    assert [e[:2] for e in events] == [("remove", a.name), ("remove", c.name), ("remove", b.name)]
    assert k.findings == []


VETO = """
    events = []
    VETO = [-EBUSY]


    def pv_first(event):
        events.append(("first", event))
        return 0


    def pv_second(event):
        events.append(("second", event))
        return VETO[0] if event == PM_SUSPEND_PREPARE else 0


    def pv_third(event):
        events.append(("third", event))
        return 0


    @module_init
    def pv_init():
        for fn in (pv_first, pv_second, pv_third):
            register_pm_notifier(fn)
        return 0


    @module_exit
    def pv_exit():
        for fn in (pv_first, pv_second, pv_third):
            unregister_pm_notifier(fn)
"""


def test_a_pm_notifier_error_vetoes_the_suspend(lab):
    """pm_notifier_call_chain_robust (kernel/power/main.c): PM_SUSPEND_PREPARE stops at
    the error, the notifiers called before it get PM_POST_SUSPEND, no device suspends."""
    driver(lab)
    lab.module("pv", VETO)
    k = lab.boot()
    dev = k.do("plug", "pci", PCI)
    assert lab.insmod("pv") == 0
    devents = lab.ns("pdrv")["events"]
    del devents[:]
    assert k.do("suspend") == -errno.EBUSY
    assert lab.ns("pv")["events"] == [("first", PM_SUSPEND_PREPARE), ("second", PM_SUSPEND_PREPARE),
                                      ("first", PM_POST_SUSPEND)]
    assert devents == [], "no device is suspended"
    lab.ns("pv")["VETO"][0] = 0  # the correct twin: nobody objects
    del lab.ns("pv")["events"][:]
    assert k.do("suspend") == 0
    assert [e[0] for e in devents] == ["suspend", "resume"] and dev.driver is not None
    assert lab.ns("pv")["events"] == [(n, PM_SUSPEND_PREPARE) for n in ("first", "second", "third")] \
        + [(n, PM_POST_SUSPEND) for n in ("first", "second", "third")]
    assert k.findings == []
