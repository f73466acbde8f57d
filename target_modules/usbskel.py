"""usbskel: usb-skeleton.c's lifetime rules: a kref'd device state, io_mutex around I/O.

Each device (usb 1d50:6002) gets /dev/usbskelN: write stores a message for the
device, read returns the last one. The per-device state is kzalloc'd in probe
and reference counted with a kref: one reference for the bound interface, one
per open file. Disconnect waits for the URBs in flight, clears st.interface
under io_mutex (I/O then gets -ENODEV) and drops the interface's reference;
release puts the autosuspend reference under io_mutex, is done with the state,
and drops the file's. Whoever drops the last reference frees the state, so a
release and a disconnect may run in any order, or at once. Open files pin the
module.

This is discrel.py (target_modules/buggy/) done right.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "USB skeleton driver"
MODULE_DEVICE_TABLE = [usb_device_id(0x1D50, 0x6002)]

USBSKEL_MINORS = 4
USBSKEL_BUF = 64
USBSKEL_SUSPEND_MS = 20
USBSKEL_KILL_MS = 10

usbskel_table_lock = mutex_init()
usbskel_minors = [None] * USBSKEL_MINORS   # bound devices, by minor
usbskel_all = []                           # every state not yet freed


def usbskel_delete(kref):
    mutex_lock(usbskel_table_lock)
    st = next(s for s in usbskel_all if s.kref is kref)
    usbskel_all.remove(st)
    mutex_unlock(usbskel_table_lock)
    kfree(st)


def usbskel_autopm_get(intf):
    """usb_autopm_get_interface(): keep the interface awake while a file is open."""
    pr_debug(f"usbskel {intf.name}: autopm get")


def usbskel_autopm_put(intf):
    """usb_autopm_put_interface(): the idle interface autosuspends, synchronously
    (pm_runtime_put_sync: a control message to the device, waiting for its answer)."""
    msleep(USBSKEL_SUSPEND_MS)
    pr_debug(f"usbskel {intf.name}: autosuspended")


def usbskel_draw_down(st):
    """usb_kill_anchored_urbs(): cancel the URBs in flight and wait for their
    completion handlers, as a disconnect must before the interface goes."""
    msleep(USBSKEL_KILL_MS)


def usbskel_open(inode, file):
    misc = file.private_data
    mutex_lock(usbskel_table_lock)
    st = next((s for s in usbskel_minors if s is not None and s.misc is misc), None)
    if st is None:
        mutex_unlock(usbskel_table_lock)
        return -ENODEV
    kref_get(st.kref)
    mutex_unlock(usbskel_table_lock)
    mutex_lock(st.io_mutex)
    if st.interface is None:          # disconnected since the lookup
        mutex_unlock(st.io_mutex)
        kref_put(st.kref, usbskel_delete)
        return -ENODEV
    usbskel_autopm_get(st.interface)
    mutex_unlock(st.io_mutex)
    file.private_data = st
    return 0


def usbskel_read(file, count):
    st = file.private_data
    mutex_lock(st.io_mutex)
    if st.interface is None:          # disconnected
        mutex_unlock(st.io_mutex)
        return -ENODEV
    data = st.msg
    mutex_unlock(st.io_mutex)
    return data[:max(count, 0)]


def usbskel_write(file, data):
    st = file.private_data
    n = min(len(data), USBSKEL_BUF)
    mutex_lock(st.io_mutex)
    if st.interface is None:
        mutex_unlock(st.io_mutex)
        return -ENODEV
    st.msg = bytes(data[:n])          # the bulk-out transfer
    mutex_unlock(st.io_mutex)
    return n


def usbskel_release(inode, file):
    st = file.private_data
    mutex_lock(st.io_mutex)
    if st.interface is not None:      # not disconnected: let it autosuspend
        usbskel_autopm_put(st.interface)
    mutex_unlock(st.io_mutex)
    pr_debug(f"usbskel{st.minor}: released")
    kref_put(st.kref, usbskel_delete)  # the state may go now: nothing uses it after
    return 0


usbskel_fops = FileOperations(owner=THIS_MODULE, open=usbskel_open, read=usbskel_read,
                              write=usbskel_write, release=usbskel_release)


def usbskel_probe(dev, id):
    st = kzalloc(64)
    if st is None:
        return -ENOMEM
    st.kref = kref_init()
    st.io_mutex = mutex_init()
    st.interface = dev
    st.msg = b""
    mutex_lock(usbskel_table_lock)
    free = [i for i in range(USBSKEL_MINORS) if usbskel_minors[i] is None]
    if free:
        st.minor = free[0]
        st.misc = MiscDevice(name=f"usbskel{st.minor}", fops=usbskel_fops)
        usbskel_minors[st.minor] = st     # reserve the minor
        usbskel_all.append(st)
    mutex_unlock(usbskel_table_lock)
    if not free:
        kfree(st)
        return -ENOSPC
    ret = misc_register(st.misc)
    if ret:
        mutex_lock(usbskel_table_lock)
        usbskel_minors[st.minor] = None
        mutex_unlock(usbskel_table_lock)
        kref_put(st.kref, usbskel_delete)
        return ret
    dev_set_drvdata(dev, st)
    return 0


def usbskel_disconnect(dev):
    st = dev_get_drvdata(dev)
    dev_set_drvdata(dev, None)
    misc_deregister(st.misc)              # no new open
    mutex_lock(usbskel_table_lock)
    usbskel_minors[st.minor] = None
    mutex_unlock(usbskel_table_lock)
    usbskel_draw_down(st)
    mutex_lock(st.io_mutex)
    st.interface = None                   # I/O gets -ENODEV from now on
    mutex_unlock(st.io_mutex)
    kref_put(st.kref, usbskel_delete)     # the interface's reference


usbskel_driver = Driver(name="usbskel", bus="usb", id_table=MODULE_DEVICE_TABLE,
                        probe=usbskel_probe, remove=usbskel_disconnect)


@module_init
def usbskel_init():
    return driver_register(usbskel_driver)


@module_exit
def usbskel_exit():
    driver_unregister(usbskel_driver)
