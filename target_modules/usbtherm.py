"""usbtherm: USB thermometer (kref'd state; the URB buffer freed with it).

Each device (usb 1d50:6006) gets /dev/usbthermN: each read asks the device for
a report (an interrupt-in transfer into st.bulk_in, io_mutex held across it, as
usb-skeleton.c's read holds it) and returns it. The per-device state and its
buffer are reference counted with a kref: one reference for the interface, one
per open file. Disconnect waits for the URBs in flight, clears st.interface
under io_mutex (reads then get -ENODEV) and drops its reference; the last
kref_put frees the buffer and the state. Open files pin the module.

This is discread.py (target_modules/buggy/) done right.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "USB thermometer"
MODULE_DEVICE_TABLE = [usb_device_id(0x1D50, 0x6006)]

USBTHERM_MINORS = 4
USBTHERM_REPORT = 8
USBTHERM_XFER_MS = 20
USBTHERM_KILL_MS = 10

usbtherm_table_lock = mutex_init()
usbtherm_minors = [None] * USBTHERM_MINORS   # bound devices, by minor
usbtherm_all = []                            # every state not yet freed


def usbtherm_delete(kref):
    mutex_lock(usbtherm_table_lock)
    st = next(s for s in usbtherm_all if s.kref is kref)
    usbtherm_all.remove(st)
    mutex_unlock(usbtherm_table_lock)
    kfree(st.bulk_in)
    kfree(st)


def usbtherm_draw_down(st):
    """usb_kill_urb() of the URBs in flight: wait for their completion handlers,
    as a disconnect must before the interface goes."""
    msleep(USBTHERM_KILL_MS)


def usbtherm_open(inode, file):
    misc = file.private_data
    mutex_lock(usbtherm_table_lock)
    st = next((s for s in usbtherm_minors if s is not None and s.misc is misc), None)
    if st is None:
        mutex_unlock(usbtherm_table_lock)
        return -ENODEV
    kref_get(st.kref)
    mutex_unlock(usbtherm_table_lock)
    file.private_data = st
    return 0


def usbtherm_read(file, count):
    """A report from the device: usb_interrupt_msg() into st.bulk_in, which sleeps
    while the URB is in flight (io_mutex held, as usb-skeleton.c's read holds it),
    then the report copied out."""
    st = file.private_data
    mutex_lock(st.io_mutex)
    if st.interface is None:          # disconnected
        mutex_unlock(st.io_mutex)
        return -ENODEV
    msleep(USBTHERM_XFER_MS)      # the URB is in flight
    st.reports += 1
    st.bulk_in[0:USBTHERM_REPORT] = b"%7d\n" % (st.reports % 10000000)  # the device's answer
    data = st.bulk_in[0:USBTHERM_REPORT]
    mutex_unlock(st.io_mutex)
    return data[:max(count, 0)]


def usbtherm_release(inode, file):
    kref_put(file.private_data.kref, usbtherm_delete)
    return 0


usbtherm_fops = FileOperations(owner=THIS_MODULE, open=usbtherm_open, read=usbtherm_read,
                               release=usbtherm_release)


def usbtherm_probe(dev, id):
    st = kzalloc(64)
    if st is None:
        return -ENOMEM
    st.bulk_in = kzalloc(USBTHERM_REPORT)  # the interrupt-in URB's buffer
    if st.bulk_in is None:
        kfree(st)
        return -ENOMEM
    st.kref = kref_init()
    st.io_mutex = mutex_init()
    st.interface = dev
    st.reports = 0
    mutex_lock(usbtherm_table_lock)
    free = [i for i in range(USBTHERM_MINORS) if usbtherm_minors[i] is None]
    if free:
        st.minor = free[0]
        st.misc = MiscDevice(name=f"usbtherm{st.minor}", fops=usbtherm_fops)
        usbtherm_minors[st.minor] = st     # reserve the minor
        usbtherm_all.append(st)
    mutex_unlock(usbtherm_table_lock)
    if not free:
        kfree(st.bulk_in)
        kfree(st)
        return -ENOSPC
    ret = misc_register(st.misc)
    if ret:
        mutex_lock(usbtherm_table_lock)
        usbtherm_minors[st.minor] = None
        mutex_unlock(usbtherm_table_lock)
        kref_put(st.kref, usbtherm_delete)
        return ret
    dev_set_drvdata(dev, st)
    return 0


def usbtherm_disconnect(dev):
    st = dev_get_drvdata(dev)
    dev_set_drvdata(dev, None)
    misc_deregister(st.misc)              # no new open
    mutex_lock(usbtherm_table_lock)
    usbtherm_minors[st.minor] = None
    mutex_unlock(usbtherm_table_lock)
    usbtherm_draw_down(st)
    mutex_lock(st.io_mutex)
    st.interface = None                   # I/O gets -ENODEV from now on
    mutex_unlock(st.io_mutex)
    kref_put(st.kref, usbtherm_delete)  # the interface's reference


usbtherm_driver = Driver(name="usbtherm", bus="usb", id_table=MODULE_DEVICE_TABLE,
                         probe=usbtherm_probe, remove=usbtherm_disconnect)


@module_init
def usbtherm_init():
    return driver_register(usbtherm_driver)


@module_exit
def usbtherm_exit():
    driver_unregister(usbtherm_driver)
