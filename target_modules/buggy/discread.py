"""discread: USB thermometer whose disconnect frees the URB buffer a read is filling.

Each device (usb 1d50:6005) gets /dev/discreadN: each read asks the device for
a report (an interrupt-in transfer into st.bulk_in) and returns it. The
per-device state is kref'd (one reference for the interface, one per open
file), and read holds io_mutex across its transfer, as usb-skeleton.c's does.

BUG (use-after-free): disconnect kfree()s st.bulk_in itself, before it waits
for the URBs in flight, instead of leaving it to the last kref_put (the URB
buffers belong to the state, as usb-skeleton.c's skel_delete frees
bulk_in_buffer), and without io_mutex: a read whose transfer is in flight then
fills and copies freed memory. Unplugging first gives the read -ENODEV
(st.interface is cleared before the read looks), reading first is done before
the unplug; the unplug must come during the transfer:

    together
      t1: read fd0 8
      t2: unplug dev0
    schedule: t1 at msleep -> t2

(Or the other way round: the read while disconnect waits for its URBs.)
Expected: "KASAN: use-after-free in discread_read". (usbtherm.py is the correct
version: the buffer lives as long as the state and is freed with it.)
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "USB thermometer (frees the URB buffer at disconnect)"
MODULE_DEVICE_TABLE = [usb_device_id(0x1D50, 0x6005)]

DISCREAD_MINORS = 4
DISCREAD_REPORT = 8
DISCREAD_XFER_MS = 20
DISCREAD_KILL_MS = 10

discread_table_lock = mutex_init()
discread_minors = [None] * DISCREAD_MINORS   # bound devices, by minor
discread_all = []                            # every state not yet freed


def discread_delete(kref):
    mutex_lock(discread_table_lock)
    st = next(s for s in discread_all if s.kref is kref)
    discread_all.remove(st)
    mutex_unlock(discread_table_lock)
    kfree(st)


def discread_draw_down(st):
    """usb_kill_urb() of the URBs in flight: wait for their completion handlers,
    as a disconnect must before the interface goes."""
    msleep(DISCREAD_KILL_MS)


def discread_open(inode, file):
    misc = file.private_data
    mutex_lock(discread_table_lock)
    st = next((s for s in discread_minors if s is not None and s.misc is misc), None)
    if st is None:
        mutex_unlock(discread_table_lock)
        return -ENODEV
    kref_get(st.kref)
    mutex_unlock(discread_table_lock)
    file.private_data = st
    return 0


def discread_read(file, count):
    """A report from the device: usb_interrupt_msg() into st.bulk_in, which sleeps
    while the URB is in flight (io_mutex held, as usb-skeleton.c's read holds it),
    then the report copied out."""
    st = file.private_data
    mutex_lock(st.io_mutex)
    if st.interface is None:          # disconnected
        mutex_unlock(st.io_mutex)
        return -ENODEV
    msleep(DISCREAD_XFER_MS)      # the URB is in flight
    st.reports += 1
    # BUG: disconnect may have freed st.bulk_in while the URB was in flight
    st.bulk_in[0:DISCREAD_REPORT] = b"%7d\n" % (st.reports % 10000000)  # the device's answer
    data = st.bulk_in[0:DISCREAD_REPORT]
    mutex_unlock(st.io_mutex)
    return data[:max(count, 0)]


def discread_release(inode, file):
    kref_put(file.private_data.kref, discread_delete)
    return 0


discread_fops = FileOperations(owner=THIS_MODULE, open=discread_open, read=discread_read,
                               release=discread_release)


def discread_probe(dev, id):
    st = kzalloc(64)
    if st is None:
        return -ENOMEM
    st.bulk_in = kzalloc(DISCREAD_REPORT)  # the interrupt-in URB's buffer
    if st.bulk_in is None:
        kfree(st)
        return -ENOMEM
    st.kref = kref_init()
    st.io_mutex = mutex_init()
    st.interface = dev
    st.reports = 0
    mutex_lock(discread_table_lock)
    free = [i for i in range(DISCREAD_MINORS) if discread_minors[i] is None]
    if free:
        st.minor = free[0]
        st.misc = MiscDevice(name=f"discread{st.minor}", fops=discread_fops)
        discread_minors[st.minor] = st     # reserve the minor
        discread_all.append(st)
    mutex_unlock(discread_table_lock)
    if not free:
        kfree(st.bulk_in)
        kfree(st)
        return -ENOSPC
    ret = misc_register(st.misc)
    if ret:
        mutex_lock(discread_table_lock)
        discread_minors[st.minor] = None
        mutex_unlock(discread_table_lock)
        kfree(st.bulk_in)
        kref_put(st.kref, discread_delete)
        return ret
    dev_set_drvdata(dev, st)
    return 0


def discread_disconnect(dev):
    st = dev_get_drvdata(dev)
    dev_set_drvdata(dev, None)
    misc_deregister(st.misc)              # no new open
    mutex_lock(discread_table_lock)
    discread_minors[st.minor] = None
    mutex_unlock(discread_table_lock)
    kfree(st.bulk_in)                     # BUG: a read may be filling it: leave it to delete
    discread_draw_down(st)
    mutex_lock(st.io_mutex)
    st.interface = None                   # I/O gets -ENODEV from now on
    mutex_unlock(st.io_mutex)
    kref_put(st.kref, discread_delete)  # the interface's reference


discread_driver = Driver(name="discread", bus="usb", id_table=MODULE_DEVICE_TABLE,
                         probe=discread_probe, remove=discread_disconnect)


@module_init
def discread_init():
    return driver_register(discread_driver)


@module_exit
def discread_exit():
    driver_unregister(discread_driver)
