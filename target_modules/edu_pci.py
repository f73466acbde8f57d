"""edu_pci: driver for the QEMU "edu" educational PCI device (1234:11e8).

Per device: devm_kzalloc'd state, a shared IRQ handler (counts under a
spinlock, schedules a work item), a self-rearming heartbeat timer (stopped
across suspend) and a misc node /dev/eduN whose read() gives the counters.
A file left open after unplug gets -ENODEV (reads look the device up first).
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL v2"
MODULE_DESCRIPTION = "QEMU edu PCI device driver"
MODULE_DEVICE_TABLE = [pci_device_id(0x1234, 0x11E8)]

EDU_PERIOD_MS = 1000
EDU_MAX_DEVS = 8

edu_lock = mutex_init()      # protects edu_devs
edu_devs = [None] * EDU_MAX_DEVS


def edu_find(match):
    for st in edu_devs:
        if st is not None and match(st):
            return st
    return None


def edu_irq(irq, dev_id):
    st = dev_id
    flags = spin_lock_irqsave(st.lock)
    st.irqs += 1
    spin_unlock_irqrestore(st.lock, flags)
    schedule_work(st.work)
    return IRQ_HANDLED


def edu_work_fn(work):
    mutex_lock(edu_lock)
    st = edu_find(lambda s: s.work is work)
    if st is not None:
        flags = spin_lock_irqsave(st.lock)
        st.works += 1
        spin_unlock_irqrestore(st.lock, flags)
    mutex_unlock(edu_lock)


def edu_timer_fn(timer):
    st = edu_find(lambda s: s.timer is timer)
    if st is None:
        return
    flags = spin_lock_irqsave(st.lock)
    st.beats += 1
    spin_unlock_irqrestore(st.lock, flags)
    mod_timer(timer, jiffies() + msecs_to_jiffies(EDU_PERIOD_MS))


def edu_open(inode, file):
    misc = file.private_data
    mutex_lock(edu_lock)
    st = edu_find(lambda s: s.misc is misc)
    mutex_unlock(edu_lock)
    if st is None:
        return -ENODEV
    file.private_data = st
    return 0


def edu_read(file, count):
    mutex_lock(edu_lock)
    st = edu_find(lambda s: s is file.private_data)
    if st is None:
        mutex_unlock(edu_lock)
        return -ENODEV
    flags = spin_lock_irqsave(st.lock)
    text = f"irqs={st.irqs} works={st.works} beats={st.beats}\n"
    spin_unlock_irqrestore(st.lock, flags)
    mutex_unlock(edu_lock)
    data = text.encode()[file.f_pos:file.f_pos + max(count, 0)]
    file.f_pos += len(data)
    return data


edu_fops = FileOperations(owner=THIS_MODULE, open=edu_open, read=edu_read)


def edu_probe_fail(dev, st, ret):
    mutex_lock(edu_lock)
    edu_devs[st.index] = None
    mutex_unlock(edu_lock)
    dev_err(dev, f"edu: probe failed ({ret})")
    return ret


def edu_probe(dev, id):
    st = devm_kzalloc(dev, 128)
    if st is None:
        return -ENOMEM
    st.irqs = st.works = st.beats = 0
    st.lock = spin_lock_init()
    st.work = INIT_WORK(edu_work_fn)
    st.timer = timer_setup(edu_timer_fn)
    mutex_lock(edu_lock)
    free = [i for i in range(EDU_MAX_DEVS) if edu_devs[i] is None]
    if not free:
        mutex_unlock(edu_lock)
        return -ENOSPC
    st.index = free[0]
    st.misc = MiscDevice(name=f"edu{st.index}", fops=edu_fops)
    edu_devs[st.index] = st    # reserve the index
    mutex_unlock(edu_lock)

    ret = request_irq(dev.irq, edu_irq, IRQF_SHARED, "edu", st)
    if ret:
        return edu_probe_fail(dev, st, ret)
    ret = misc_register(st.misc)
    if ret:
        free_irq(dev.irq, st)
        cancel_work_sync(st.work)  # an interrupt since request_irq may have queued it
        return edu_probe_fail(dev, st, ret)
    dev_set_drvdata(dev, st)
    mod_timer(st.timer, jiffies() + msecs_to_jiffies(EDU_PERIOD_MS))
    dev_info(dev, f"edu: /dev/edu{st.index} on irq {dev.irq}")
    return 0


def edu_remove(dev):
    st = dev_get_drvdata(dev)
    misc_deregister(st.misc)
    mutex_lock(edu_lock)
    edu_devs[st.index] = None
    mutex_unlock(edu_lock)
    del_timer_sync(st.timer)
    free_irq(dev.irq, st)
    cancel_work_sync(st.work)


def edu_suspend(dev):
    del_timer_sync(dev_get_drvdata(dev).timer)
    return 0


def edu_resume(dev):
    st = dev_get_drvdata(dev)
    mod_timer(st.timer, jiffies() + msecs_to_jiffies(EDU_PERIOD_MS))
    return 0


edu_driver = Driver(name="edu", bus="pci", id_table=MODULE_DEVICE_TABLE,
                    probe=edu_probe, remove=edu_remove,
                    suspend=edu_suspend, resume=edu_resume)


@module_init
def edu_init():
    return driver_register(edu_driver)


@module_exit
def edu_exit():
    driver_unregister(edu_driver)
