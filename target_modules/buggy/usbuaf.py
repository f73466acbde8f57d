"""usbuaf: USB sensor driver whose open files outlive the device.

BUG (use-after-free): the per-device state is devm_kzalloc'd, so it is freed
when the device is unplugged, but open() stores it in file.private_data
without any reference count. A file opened before the unplug reads freed
memory: plug usb 04d8:f00d, open /dev/usbuaf0, unplug, read.
Expected: "KASAN: use-after-free in usbuaf_read". (usbled.py is the correct
version, with a kref.)
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "USB sensor driver (unsafe against unplug)"
MODULE_DEVICE_TABLE = [usb_device_id(0x04D8, 0xF00D)]

usbuaf_devs = []    # states of the bound devices


def usbuaf_open(inode, file):
    for st in usbuaf_devs:
        if st.misc is file.private_data:
            file.private_data = st
            return 0
    return -ENODEV


def usbuaf_read(file, count):
    st = file.private_data
    st.reads += 1                     # BUG: st may have been freed by unplug
    return (b"%d\n" % st.reads)[:max(count, 0)]


usbuaf_fops = FileOperations(owner=THIS_MODULE, open=usbuaf_open,
                             read=usbuaf_read)


def usbuaf_probe(dev, id):
    st = devm_kzalloc(dev, 32)
    if st is None:
        return -ENOMEM
    st.reads = 0
    used = [s.index for s in usbuaf_devs]
    st.index = min(i for i in range(len(used) + 1) if i not in used)
    st.misc = MiscDevice(name=f"usbuaf{st.index}", fops=usbuaf_fops)
    ret = misc_register(st.misc)
    if ret:
        return ret
    usbuaf_devs.append(st)
    dev_set_drvdata(dev, st)
    return 0


def usbuaf_disconnect(dev):
    st = dev_get_drvdata(dev)
    misc_deregister(st.misc)
    usbuaf_devs.remove(st)


usbuaf_driver = Driver(name="usbuaf", bus="usb", id_table=MODULE_DEVICE_TABLE,
                       probe=usbuaf_probe, remove=usbuaf_disconnect)


@module_init
def usbuaf_init():
    return driver_register(usbuaf_driver)


@module_exit
def usbuaf_exit():
    driver_unregister(usbuaf_driver)
