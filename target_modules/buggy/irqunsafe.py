"""irqunsafe: PCI sensor card whose sample counter lock is taken with IRQs on in read().

BUG (lockdep): irqunsafe_irq takes st.lock in hard-IRQ context (rightly with
spin_lock: IRQs are off in a handler), but irqunsafe_read takes the same lock
with spin_lock(), IRQs on. An interrupt that comes while read() holds the lock
spins on it forever on that CPU: read() must use spin_lock_irqsave.
Reach it with plug pci 1af4:10f8, an interrupt on the device's line, then
open /dev/irqunsafe0 and read it (or read first, then the interrupt).
Expected: "inconsistent lock state in irqunsafe_read".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "PCI sensor card (IRQ-unsafe counter lock)"
MODULE_DEVICE_TABLE = [pci_device_id(0x1AF4, 0x10F8)]

irqunsafe_dev = [None]            # the one card this driver handles


def irqunsafe_irq(irq, dev_id):
    st = dev_id
    spin_lock(st.lock)
    st.samples += 1
    spin_unlock(st.lock)
    return IRQ_HANDLED


def irqunsafe_read(file, count):
    st = irqunsafe_dev[0]
    if st is None:
        return -ENODEV
    spin_lock(st.lock)                # BUG: IRQs stay on; must be spin_lock_irqsave
    text = f"samples={st.samples}\n"
    spin_unlock(st.lock)
    data = text.encode()[file.f_pos:file.f_pos + max(count, 0)]
    file.f_pos += len(data)
    return data


irqunsafe_fops = FileOperations(owner=THIS_MODULE, read=irqunsafe_read)
irqunsafe_misc = MiscDevice(name="irqunsafe0", fops=irqunsafe_fops)


def irqunsafe_probe(dev, id):
    if irqunsafe_dev[0] is not None:
        return -EBUSY
    st = devm_kzalloc(dev, 32)
    if st is None:
        return -ENOMEM
    st.samples = 0
    st.lock = spin_lock_init()
    ret = devm_request_irq(dev, dev.irq, irqunsafe_irq, IRQF_SHARED, "irqunsafe", st)
    if ret:
        return ret
    ret = misc_register(irqunsafe_misc)
    if ret:
        return ret
    irqunsafe_dev[0] = st
    dev_set_drvdata(dev, st)
    return 0


def irqunsafe_remove(dev):
    misc_deregister(irqunsafe_misc)
    irqunsafe_dev[0] = None


irqunsafe_driver = Driver(name="irqunsafe", bus="pci", id_table=MODULE_DEVICE_TABLE,
                          probe=irqunsafe_probe, remove=irqunsafe_remove)


@module_init
def irqunsafe_init():
    return driver_register(irqunsafe_driver)


@module_exit
def irqunsafe_exit():
    driver_unregister(irqunsafe_driver)
