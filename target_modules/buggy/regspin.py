"""regspin: a PCI driver that registers its misc device while holding a spinlock.

BUG (atomic-sleep): regspin_probe reserves a slot in its device table under
regspin_lock (spin_lock_irqsave) and calls misc_register() before unlocking;
misc_register takes misc_mtx, a mutex, and may sleep. Reach it by plugging a
device (pci 1af4:10fa), with the module loaded or autoloaded.
Expected: "BUG: sleeping function called from invalid context in regspin_probe".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "PCI counter card (registers under a spinlock)"
MODULE_DEVICE_TABLE = [pci_device_id(0x1AF4, 0x10FA)]

REGSPIN_MAX = 4

regspin_lock = spin_lock_init()
regspin_slots = [None] * REGSPIN_MAX


def regspin_read(file, count):
    st = file.private_data
    return f"{st.name}\n".encode()[:max(count, 0)]


regspin_fops = FileOperations(owner=THIS_MODULE, read=regspin_read)


def regspin_probe(dev, id):
    flags = spin_lock_irqsave(regspin_lock)
    free = [i for i in range(REGSPIN_MAX) if regspin_slots[i] is None]
    if not free:
        spin_unlock_irqrestore(regspin_lock, flags)
        return -ENOSPC
    misc = MiscDevice(name=f"regspin{free[0]}", fops=regspin_fops)
    ret = misc_register(misc)         # BUG: may sleep; reserve the slot, unlock, then register
    if ret == 0:
        regspin_slots[free[0]] = misc
        dev_set_drvdata(dev, free[0])
    spin_unlock_irqrestore(regspin_lock, flags)
    return ret


def regspin_remove(dev):
    index = dev_get_drvdata(dev)
    misc = regspin_slots[index]
    flags = spin_lock_irqsave(regspin_lock)
    regspin_slots[index] = None
    spin_unlock_irqrestore(regspin_lock, flags)
    misc_deregister(misc)


regspin_driver = Driver(name="regspin", bus="pci", id_table=MODULE_DEVICE_TABLE,
                        probe=regspin_probe, remove=regspin_remove)


@module_init
def regspin_init():
    return driver_register(regspin_driver)


@module_exit
def regspin_exit():
    driver_unregister(regspin_driver)
