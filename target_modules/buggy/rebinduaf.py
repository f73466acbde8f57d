"""rebinduaf: PCI data-acquisition card that calibrates once per device.

BUG (use-after-free): the first probe of a device measures its calibration
table and files it in rebinduaf_cal, keyed by the device, so that a later probe
of the same device (after an unbind) can skip the slow calibration. But the
table is devm_kzalloc'd: it belongs to the binding, not the device, and
unbinding releases it while rebinduaf_cal still points at it. The next probe of
that device reads freed memory. (Linux drivers had this bug with dev->dma_parms
in devm memory.) Unplug does not reach it: a device plugged again is a new
device with no table filed. Reach it with plug pci 10ee:7024, unbind, bind.
Expected: "KASAN: use-after-free in rebinduaf_probe".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "PCI data-acquisition card (calibration lost on unbind)"
MODULE_DEVICE_TABLE = [pci_device_id(0x10EE, 0x7024)]

CAL_POINTS = 8

rebinduaf_cal = {}    # device -> its calibration table, kept across a rebind


def rebinduaf_irq(irq, dev_id):
    st = dev_id
    st.samples += 1
    return IRQ_HANDLED


def rebinduaf_calibrate(dev):
    cal = devm_kzalloc(dev, CAL_POINTS)   # BUG: must outlive the binding
    if cal is None:
        return None
    for i in range(CAL_POINTS):
        cal[i] = (dev.irq * 7 + i * 3) & 0xFF
    dev_info(dev, "rebinduaf: calibrated")
    return cal


def rebinduaf_probe(dev, id):
    cal = rebinduaf_cal.get(dev)
    if cal is None:
        cal = rebinduaf_calibrate(dev)
        if cal is None:
            return -ENOMEM
        rebinduaf_cal[dev] = cal
    offset = cal[0]                   # freed by the last unbind on a rebind
    st = devm_kzalloc(dev, 32)
    if st is None:
        return -ENOMEM
    st.offset = offset
    st.samples = 0
    ret = devm_request_irq(dev, dev.irq, rebinduaf_irq, IRQF_SHARED,
                           "rebinduaf", st)
    if ret:
        return ret
    dev_set_drvdata(dev, st)
    return 0


def rebinduaf_remove(dev):
    st = dev_get_drvdata(dev)
    dev_info(dev, f"rebinduaf: {st.samples} samples")


rebinduaf_driver = Driver(name="rebinduaf", bus="pci",
                          id_table=MODULE_DEVICE_TABLE,
                          probe=rebinduaf_probe, remove=rebinduaf_remove)


@module_init
def rebinduaf_init():
    return driver_register(rebinduaf_driver)


@module_exit
def rebinduaf_exit():
    driver_unregister(rebinduaf_driver)
    rebinduaf_cal.clear()
