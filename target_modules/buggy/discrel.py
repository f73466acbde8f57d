"""discrel: USB skeleton driver that counts its open files instead of taking a kref.

Each device (usb 1d50:6001) gets /dev/discrelN: write stores a message for the
device, read returns the last one. The per-device state is kzalloc'd in probe.
Instead of a kref (usb-skeleton.c's dev->kref) it counts the open files under
io_mutex: disconnect clears st.interface and kfree()s the state at once when no
file is open; otherwise the last release frees it.

BUG (use-after-free): release puts the interface's autosuspend reference after
dropping io_mutex (the put sleeps: the idle interface suspends), then reads the
state for its debug message (st.minor, as adutux.c's release once did with
dev->udev). A disconnect that runs while release sleeps there finds no file
open and kfree()s the state under it. Neither order on its own shows it (unplug
first leaves the freeing to the release, which frees and returns; close first is
done with the state before the unplug); the unplug must come inside the release:

    together
      t1: close fd0
      t2: unplug dev0
    schedule: t1 at msleep -> t2

(Or the other way round: the close while disconnect waits for its URBs.)
Expected: "KASAN: use-after-free in discrel_release". (usbskel.py is the correct
version: a kref, one reference for the interface and one per open file; release
is done with the state before its kref_put.)
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "USB skeleton driver (open count instead of a kref)"
MODULE_DEVICE_TABLE = [usb_device_id(0x1D50, 0x6001)]

DISCREL_MINORS = 4
DISCREL_BUF = 64
DISCREL_SUSPEND_MS = 20
DISCREL_KILL_MS = 10

discrel_table_lock = mutex_init()
discrel_minors = [None] * DISCREL_MINORS   # bound devices, by minor


def discrel_autopm_get(intf):
    """usb_autopm_get_interface(): keep the interface awake while a file is open."""
    pr_debug(f"discrel {intf.name}: autopm get")


def discrel_autopm_put(intf):
    """usb_autopm_put_interface(): the idle interface autosuspends, synchronously
    (pm_runtime_put_sync: a control message to the device, waiting for its answer)."""
    msleep(DISCREL_SUSPEND_MS)
    pr_debug(f"discrel {intf.name}: autosuspended")


def discrel_draw_down(st):
    """usb_kill_anchored_urbs(): cancel the URBs in flight and wait for their
    completion handlers, as a disconnect must before the interface goes."""
    msleep(DISCREL_KILL_MS)


def discrel_open(inode, file):
    misc = file.private_data
    mutex_lock(discrel_table_lock)
    st = next((s for s in discrel_minors if s is not None and s.misc is misc), None)
    if st is None:
        mutex_unlock(discrel_table_lock)
        return -ENODEV
    mutex_lock(st.io_mutex)
    st.open_count += 1
    discrel_autopm_get(st.interface)
    mutex_unlock(st.io_mutex)
    mutex_unlock(discrel_table_lock)
    file.private_data = st
    return 0


def discrel_read(file, count):
    st = file.private_data
    mutex_lock(st.io_mutex)
    if st.interface is None:          # disconnected
        mutex_unlock(st.io_mutex)
        return -ENODEV
    data = st.msg
    mutex_unlock(st.io_mutex)
    return data[:max(count, 0)]


def discrel_write(file, data):
    st = file.private_data
    n = min(len(data), DISCREL_BUF)
    mutex_lock(st.io_mutex)
    if st.interface is None:
        mutex_unlock(st.io_mutex)
        return -ENODEV
    st.msg = bytes(data[:n])          # the bulk-out transfer
    mutex_unlock(st.io_mutex)
    return n


def discrel_release(inode, file):
    st = file.private_data
    mutex_lock(st.io_mutex)
    intf = st.interface
    st.open_count -= 1
    last = intf is None and st.open_count == 0
    mutex_unlock(st.io_mutex)
    if last:                          # unplugged while open: the last file frees it
        kfree(st)
        return 0
    if intf is not None:
        discrel_autopm_put(intf)      # sleeps: the idle interface autosuspends
    # BUG: st may be freed by now: a disconnect since the unlock saw no file open
    pr_debug(f"discrel{st.minor}: released")
    return 0


discrel_fops = FileOperations(owner=THIS_MODULE, open=discrel_open, read=discrel_read,
                              write=discrel_write, release=discrel_release)


def discrel_probe(dev, id):
    st = kzalloc(64)
    if st is None:
        return -ENOMEM
    st.io_mutex = mutex_init()
    st.interface = dev
    st.msg = b""
    st.open_count = 0
    mutex_lock(discrel_table_lock)
    free = [i for i in range(DISCREL_MINORS) if discrel_minors[i] is None]
    if free:
        st.minor = free[0]
        st.misc = MiscDevice(name=f"discrel{st.minor}", fops=discrel_fops)
        discrel_minors[st.minor] = st     # reserve the minor
    mutex_unlock(discrel_table_lock)
    if not free:
        kfree(st)
        return -ENOSPC
    ret = misc_register(st.misc)
    if ret:
        mutex_lock(discrel_table_lock)
        discrel_minors[st.minor] = None
        mutex_unlock(discrel_table_lock)
        kfree(st)
        return ret
    dev_set_drvdata(dev, st)
    return 0


def discrel_disconnect(dev):
    st = dev_get_drvdata(dev)
    dev_set_drvdata(dev, None)
    misc_deregister(st.misc)              # no new open
    mutex_lock(discrel_table_lock)
    discrel_minors[st.minor] = None
    mutex_unlock(discrel_table_lock)
    discrel_draw_down(st)
    mutex_lock(st.io_mutex)
    st.interface = None                   # I/O gets -ENODEV from now on
    idle = st.open_count == 0
    mutex_unlock(st.io_mutex)
    if idle:                              # no file open: free it now
        kfree(st)


discrel_driver = Driver(name="discrel", bus="usb", id_table=MODULE_DEVICE_TABLE,
                        probe=discrel_probe, remove=discrel_disconnect)


@module_init
def discrel_init():
    return driver_register(discrel_driver)


@module_exit
def discrel_exit():
    driver_unregister(discrel_driver)
