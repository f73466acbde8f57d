"""rebindleak: platform thermal sensor that keeps its calibration across a rebind.

BUG (memory-leak): probe kzallocs a record of the sensor's calibration and files
it in rebindleak_saved under the device; remove leaves it there on purpose, so
that a rebind finds it again, and exit frees every saved record. But probe looks
the record up by the device's name while it files it under the device itself:
the lookup never finds it, so each probe of the same device allocates a new
record and overwrites the saved one, which is lost. Unplug does not reach it: a
device plugged again is a new device with an entry of its own. Reach it with
plug platform rebindleak, unbind, bind, then rmmod (or the end of the program).
Expected: "memory leak in rebindleak_probe".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "platform thermal sensor (leaks its record on a rebind)"
MODULE_DEVICE_TABLE = [platform_device_id("rebindleak")]

rebindleak_saved = {}    # device -> its calibration record, kept across a rebind


def rebindleak_irq(irq, dev_id):
    st = dev_id
    st.alerts += 1
    return IRQ_HANDLED


def rebindleak_probe(dev, id):
    rec = rebindleak_saved.get(dev.name)   # BUG: filed under dev, below
    if rec is None:
        rec = kzalloc(16)
        if rec is None:
            return -ENOMEM
        rec.offset = dev.irq % 5 - 2
        rebindleak_saved[dev] = rec
    st = devm_kzalloc(dev, 32)
    if st is None:
        return -ENOMEM
    st.rec = rec
    st.alerts = 0
    ret = devm_request_irq(dev, dev.irq, rebindleak_irq, IRQF_SHARED,
                           "rebindleak", st)
    if ret:
        return ret
    dev_set_drvdata(dev, st)
    dev_info(dev, f"rebindleak: offset {rec.offset}")
    return 0


def rebindleak_remove(dev):
    st = dev_get_drvdata(dev)
    dev_info(dev, f"rebindleak: {st.alerts} alerts")


rebindleak_driver = Driver(name="rebindleak", bus="platform",
                           id_table=MODULE_DEVICE_TABLE,
                           probe=rebindleak_probe, remove=rebindleak_remove)


@module_init
def rebindleak_init():
    return driver_register(rebindleak_driver)


@module_exit
def rebindleak_exit():
    driver_unregister(rebindleak_driver)
    for rec in rebindleak_saved.values():
        kfree(rec)
    rebindleak_saved.clear()
