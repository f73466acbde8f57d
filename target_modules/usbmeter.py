"""usbmeter: yurex-style USB counter (kref'd state, the interface checked under io_mutex).

Each device (usb 1d50:6004) gets /dev/usbmeterN: read returns the counter the
device keeps, write sends it a command ("I" resets it, "A" adds one) in a
control URB and waits for the device's ACK with io_mutex dropped. The
per-device state is reference counted with a kref: one reference for the
interface, one per open file. Disconnect waits for the URBs in flight, clears
st.interface under io_mutex and drops its reference; every use of
st.interface holds io_mutex and checks it first, after the ACK wait too.
Open files pin the module.

This is discwrite.py (target_modules/buggy/) done right.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "USB counter"
MODULE_DEVICE_TABLE = [usb_device_id(0x1D50, 0x6004)]

USBMETER_MINORS = 4
USBMETER_CNTL = 8
USBMETER_ACK_MS = 20
USBMETER_KILL_MS = 10

usbmeter_table_lock = mutex_init()
usbmeter_minors = [None] * USBMETER_MINORS   # bound devices, by minor
usbmeter_all = []                            # every state not yet freed


def usbmeter_delete(kref):
    mutex_lock(usbmeter_table_lock)
    st = next(s for s in usbmeter_all if s.kref is kref)
    usbmeter_all.remove(st)
    mutex_unlock(usbmeter_table_lock)
    kfree(st)


def usbmeter_wait_ack(st):
    """The control URB is in flight: wait for the device's CMD_ACK (yurex.c sleeps
    in schedule_timeout for it, io_mutex not held)."""
    msleep(USBMETER_ACK_MS)


def usbmeter_draw_down(st):
    """usb_kill_urb() of the URBs in flight: wait for their completion handlers,
    as a disconnect must before the interface goes."""
    msleep(USBMETER_KILL_MS)


def usbmeter_open(inode, file):
    misc = file.private_data
    mutex_lock(usbmeter_table_lock)
    st = next((s for s in usbmeter_minors if s is not None and s.misc is misc), None)
    if st is None:
        mutex_unlock(usbmeter_table_lock)
        return -ENODEV
    kref_get(st.kref)
    mutex_unlock(usbmeter_table_lock)
    file.private_data = st
    return 0


def usbmeter_read(file, count):
    """The counter the device keeps, as text."""
    st = file.private_data
    mutex_lock(st.io_mutex)
    if st.interface is None:          # disconnected
        mutex_unlock(st.io_mutex)
        return -ENODEV
    data = b"%d\n" % st.count
    mutex_unlock(st.io_mutex)
    return data[:max(count, 0)]


def usbmeter_write(file, data):
    """A command for the device ("I" resets the counter, "A" adds one, as yurex's
    commands do; anything else, an empty write too, is a no-op the device just
    acknowledges): sent in a control URB, then wait for the device's ACK."""
    st = file.private_data
    n = min(len(data), USBMETER_CNTL)
    mutex_lock(st.io_mutex)
    if st.interface is None:          # disconnected
        mutex_unlock(st.io_mutex)
        return -ENODEV
    cmd = data[:1]
    st.count = 0 if cmd == b"I" else st.count + 1 if cmd == b"A" else st.count
    mutex_unlock(st.io_mutex)
    usbmeter_wait_ack(st)
    mutex_lock(st.io_mutex)           # the interface may have gone while we slept
    if st.interface is not None:
        pr_debug(f"usbmeter {st.interface.name}: submit {cmd!r}")
    mutex_unlock(st.io_mutex)
    return n


def usbmeter_release(inode, file):
    kref_put(file.private_data.kref, usbmeter_delete)
    return 0


usbmeter_fops = FileOperations(owner=THIS_MODULE, open=usbmeter_open, read=usbmeter_read,
                               write=usbmeter_write, release=usbmeter_release)


def usbmeter_probe(dev, id):
    st = kzalloc(64)
    if st is None:
        return -ENOMEM
    st.kref = kref_init()
    st.io_mutex = mutex_init()
    st.interface = dev
    st.count = 0
    mutex_lock(usbmeter_table_lock)
    free = [i for i in range(USBMETER_MINORS) if usbmeter_minors[i] is None]
    if free:
        st.minor = free[0]
        st.misc = MiscDevice(name=f"usbmeter{st.minor}", fops=usbmeter_fops)
        usbmeter_minors[st.minor] = st     # reserve the minor
        usbmeter_all.append(st)
    mutex_unlock(usbmeter_table_lock)
    if not free:
        kfree(st)
        return -ENOSPC
    ret = misc_register(st.misc)
    if ret:
        mutex_lock(usbmeter_table_lock)
        usbmeter_minors[st.minor] = None
        mutex_unlock(usbmeter_table_lock)
        kref_put(st.kref, usbmeter_delete)
        return ret
    dev_set_drvdata(dev, st)
    return 0


def usbmeter_disconnect(dev):
    st = dev_get_drvdata(dev)
    dev_set_drvdata(dev, None)
    misc_deregister(st.misc)              # no new open
    mutex_lock(usbmeter_table_lock)
    usbmeter_minors[st.minor] = None
    mutex_unlock(usbmeter_table_lock)
    usbmeter_draw_down(st)
    mutex_lock(st.io_mutex)
    st.interface = None                   # I/O gets -ENODEV from now on
    mutex_unlock(st.io_mutex)
    kref_put(st.kref, usbmeter_delete)  # the interface's reference


usbmeter_driver = Driver(name="usbmeter", bus="usb", id_table=MODULE_DEVICE_TABLE,
                         probe=usbmeter_probe, remove=usbmeter_disconnect)


@module_init
def usbmeter_init():
    return driver_register(usbmeter_driver)


@module_exit
def usbmeter_exit():
    driver_unregister(usbmeter_driver)
