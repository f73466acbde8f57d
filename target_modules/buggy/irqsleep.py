"""irqsleep: PCI capture card that allocates with GFP_KERNEL in its IRQ handler.

BUG (atomic-sleep): irqsleep_irq (hard-IRQ context) allocates an event record
with kmalloc(GFP_KERNEL), which may sleep; it should use GFP_ATOMIC.
Reach it with plug pci 1af4:10f7 and an interrupt on the device's line.
Expected: "BUG: sleeping function called from invalid context in irqsleep_irq".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "PCI capture card (sleeps in its IRQ handler)"
MODULE_DEVICE_TABLE = [pci_device_id(0x1AF4, 0x10F7)]


def irqsleep_irq(irq, dev_id):
    st = dev_id
    ev = kmalloc(16, GFP_KERNEL)      # BUG: must be GFP_ATOMIC here
    if ev is None:
        return IRQ_HANDLED
    st.events += 1
    kfree(ev)
    return IRQ_HANDLED


def irqsleep_probe(dev, id):
    st = devm_kzalloc(dev, 32)
    if st is None:
        return -ENOMEM
    st.events = 0
    ret = devm_request_irq(dev, dev.irq, irqsleep_irq, IRQF_SHARED,
                           "irqsleep", st)
    if ret:
        return ret
    dev_set_drvdata(dev, st)
    return 0


def irqsleep_remove(dev):
    dev_info(dev, f"irqsleep: {dev_get_drvdata(dev).events} events")


irqsleep_driver = Driver(name="irqsleep", bus="pci",
                         id_table=MODULE_DEVICE_TABLE,
                         probe=irqsleep_probe, remove=irqsleep_remove)


@module_init
def irqsleep_init():
    return driver_register(irqsleep_driver)


@module_exit
def irqsleep_exit():
    driver_unregister(irqsleep_driver)
