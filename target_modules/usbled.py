"""usbled: driver for a Delcom-style USB LED (0fc5:1223), usb-skeleton pattern.

Each device gets /dev/usbledN: write "0"/"1" (or ioctl USBLED_IOC_SET) sets the
LED, read returns "0\\n" or "1\\n". The per-device state is kzalloc'd and
reference counted with a kref: one reference for the bound device, one per
open file. Unplugging a device with a file open only marks the state
disconnected (the file then gets -ENODEV); the state is freed at the last
kref_put, in release() or in disconnect. Open files pin the module.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "USB LED driver"
MODULE_DEVICE_TABLE = [usb_device_id(0x0FC5, 0x1223)]

USBLED_IOC_SET = 0x4C01
USBLED_MINORS = 4

usbled_table_lock = mutex_init()
usbled_minors = [None] * USBLED_MINORS   # bound devices, by minor
usbled_all = []                          # every state not yet freed


def usbled_delete(kref):
    for st in usbled_all:
        if st.kref is kref:
            usbled_all.remove(st)
            kfree(st)
            return


def usbled_open(inode, file):
    misc = file.private_data
    mutex_lock(usbled_table_lock)
    for st in usbled_minors:
        if st is not None and st.misc is misc:
            kref_get(st.kref)
            file.private_data = st
            mutex_unlock(usbled_table_lock)
            return 0
    mutex_unlock(usbled_table_lock)
    return -ENODEV


def usbled_set(st, on):
    mutex_lock(st.io_mutex)
    if st.disconnected:
        ret = -ENODEV
    else:
        st.led = 1 if on else 0
        ret = 0
    mutex_unlock(st.io_mutex)
    return ret


def usbled_read(file, count):
    st = file.private_data
    mutex_lock(st.io_mutex)
    if st.disconnected:
        mutex_unlock(st.io_mutex)
        return -ENODEV
    data = b"%d\n" % st.led
    mutex_unlock(st.io_mutex)
    return data[:max(count, 0)]


def usbled_write(file, data):
    if len(data) == 0:
        return 0
    ret = usbled_set(file.private_data, data[:1] != b"0")
    return ret if ret < 0 else len(data)


def usbled_ioctl(file, cmd, arg):
    if cmd != USBLED_IOC_SET:
        return -ENOTTY
    return usbled_set(file.private_data, arg != 0)


def usbled_release(inode, file):
    kref_put(file.private_data.kref, usbled_delete)
    return 0


usbled_fops = FileOperations(owner=THIS_MODULE, open=usbled_open,
                             read=usbled_read, write=usbled_write,
                             unlocked_ioctl=usbled_ioctl,
                             release=usbled_release)


def usbled_probe(dev, id):
    st = kzalloc(64)
    if st is None:
        return -ENOMEM
    st.kref = kref_init()
    st.io_mutex = mutex_init()
    st.led = 0
    st.disconnected = False
    st.misc = None
    mutex_lock(usbled_table_lock)
    free = [i for i in range(USBLED_MINORS) if usbled_minors[i] is None]
    if free:
        st.minor = free[0]
        usbled_minors[st.minor] = st      # reserve the minor
    mutex_unlock(usbled_table_lock)
    if not free:
        kfree(st)
        return -ENOSPC
    st.misc = MiscDevice(name=f"usbled{st.minor}", fops=usbled_fops)
    ret = misc_register(st.misc)
    if ret:
        mutex_lock(usbled_table_lock)
        usbled_minors[st.minor] = None
        mutex_unlock(usbled_table_lock)
        kfree(st)
        return ret
    usbled_all.append(st)
    dev_set_drvdata(dev, st)
    dev_info(dev, f"usbled: /dev/usbled{st.minor}")
    return 0


def usbled_disconnect(dev):
    st = dev_get_drvdata(dev)
    dev_set_drvdata(dev, None)
    misc_deregister(st.misc)
    mutex_lock(usbled_table_lock)
    usbled_minors[st.minor] = None
    mutex_unlock(usbled_table_lock)
    mutex_lock(st.io_mutex)
    st.disconnected = True
    mutex_unlock(st.io_mutex)
    kref_put(st.kref, usbled_delete)


usbled_driver = Driver(name="usbled", bus="usb", id_table=MODULE_DEVICE_TABLE,
                       probe=usbled_probe, remove=usbled_disconnect)


@module_init
def usbled_init():
    return driver_register(usbled_driver)


@module_exit
def usbled_exit():
    driver_unregister(usbled_driver)
