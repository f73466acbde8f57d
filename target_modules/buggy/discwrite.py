"""discwrite: yurex-style USB counter whose write logs through the interface after sleeping.

Each device (usb 1d50:6003) gets /dev/discwriteN: read returns the counter the
device keeps, write sends it a command ("I" resets it, "A" adds one) in a
control URB and waits for the device's ACK. The per-device state is kref'd
(one reference for the interface, one per open file); disconnect clears
st.interface under io_mutex, and I/O checks it there.

BUG (oops): write checks st.interface under io_mutex, drops the mutex while it
waits for the ACK, and then dereferences st.interface for its debug message
without looking again: yurex.c used its interface pointer as an inverted
disconnected flag in the same way, and yurex_write()'s dev_dbg/dev_err through
dev->interface could meet the NULL (fixed by aafb00a977cf, "USB: yurex: fix
NULL-derefs on disconnect", with a dedicated disconnected flag). A disconnect
during the wait has set it to NULL. Unplugging first gives the write -ENODEV,
writing first is done before the unplug; the unplug must come while the write
waits:

    together
      t1: write fd0 "A"
      t2: unplug dev0
    schedule: t1 at msleep -> t2

(Or the other way round: the write while disconnect waits for its URBs.)
Expected: "BUG: kernel NULL pointer dereference in discwrite_write". (usbmeter.py
is the correct version: it takes io_mutex again and checks st.interface before
the message.)
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "USB counter (logs through a cleared interface)"
MODULE_DEVICE_TABLE = [usb_device_id(0x1D50, 0x6003)]

DISCWRITE_MINORS = 4
DISCWRITE_CNTL = 8
DISCWRITE_ACK_MS = 20
DISCWRITE_KILL_MS = 10

discwrite_table_lock = mutex_init()
discwrite_minors = [None] * DISCWRITE_MINORS   # bound devices, by minor
discwrite_all = []                             # every state not yet freed


def discwrite_delete(kref):
    mutex_lock(discwrite_table_lock)
    st = next(s for s in discwrite_all if s.kref is kref)
    discwrite_all.remove(st)
    mutex_unlock(discwrite_table_lock)
    kfree(st)


def discwrite_wait_ack(st):
    """The control URB is in flight: wait for the device's CMD_ACK (yurex.c sleeps
    in schedule_timeout for it, io_mutex not held)."""
    msleep(DISCWRITE_ACK_MS)


def discwrite_draw_down(st):
    """usb_kill_urb() of the URBs in flight: wait for their completion handlers,
    as a disconnect must before the interface goes."""
    msleep(DISCWRITE_KILL_MS)


def discwrite_open(inode, file):
    misc = file.private_data
    mutex_lock(discwrite_table_lock)
    st = next((s for s in discwrite_minors if s is not None and s.misc is misc), None)
    if st is None:
        mutex_unlock(discwrite_table_lock)
        return -ENODEV
    kref_get(st.kref)
    mutex_unlock(discwrite_table_lock)
    file.private_data = st
    return 0


def discwrite_read(file, count):
    """The counter the device keeps, as text."""
    st = file.private_data
    mutex_lock(st.io_mutex)
    if st.interface is None:          # disconnected
        mutex_unlock(st.io_mutex)
        return -ENODEV
    data = b"%d\n" % st.count
    mutex_unlock(st.io_mutex)
    return data[:max(count, 0)]


def discwrite_write(file, data):
    """A command for the device ("I" resets the counter, "A" adds one, as yurex's
    commands do; anything else, an empty write too, is a no-op the device just
    acknowledges): sent in a control URB, then wait for the device's ACK."""
    st = file.private_data
    n = min(len(data), DISCWRITE_CNTL)
    mutex_lock(st.io_mutex)
    if st.interface is None:          # disconnected
        mutex_unlock(st.io_mutex)
        return -ENODEV
    cmd = data[:1]
    st.count = 0 if cmd == b"I" else st.count + 1 if cmd == b"A" else st.count
    mutex_unlock(st.io_mutex)
    discwrite_wait_ack(st)
    # BUG: disconnect may have cleared st.interface while the write slept
    pr_debug(f"discwrite {st.interface.name}: submit {cmd!r}")
    return n


def discwrite_release(inode, file):
    kref_put(file.private_data.kref, discwrite_delete)
    return 0


discwrite_fops = FileOperations(owner=THIS_MODULE, open=discwrite_open, read=discwrite_read,
                                write=discwrite_write, release=discwrite_release)


def discwrite_probe(dev, id):
    st = kzalloc(64)
    if st is None:
        return -ENOMEM
    st.kref = kref_init()
    st.io_mutex = mutex_init()
    st.interface = dev
    st.count = 0
    mutex_lock(discwrite_table_lock)
    free = [i for i in range(DISCWRITE_MINORS) if discwrite_minors[i] is None]
    if free:
        st.minor = free[0]
        st.misc = MiscDevice(name=f"discwrite{st.minor}", fops=discwrite_fops)
        discwrite_minors[st.minor] = st     # reserve the minor
        discwrite_all.append(st)
    mutex_unlock(discwrite_table_lock)
    if not free:
        kfree(st)
        return -ENOSPC
    ret = misc_register(st.misc)
    if ret:
        mutex_lock(discwrite_table_lock)
        discwrite_minors[st.minor] = None
        mutex_unlock(discwrite_table_lock)
        kref_put(st.kref, discwrite_delete)
        return ret
    dev_set_drvdata(dev, st)
    return 0


def discwrite_disconnect(dev):
    st = dev_get_drvdata(dev)
    dev_set_drvdata(dev, None)
    misc_deregister(st.misc)              # no new open
    mutex_lock(discwrite_table_lock)
    discwrite_minors[st.minor] = None
    mutex_unlock(discwrite_table_lock)
    discwrite_draw_down(st)
    mutex_lock(st.io_mutex)
    st.interface = None                   # I/O gets -ENODEV from now on
    mutex_unlock(st.io_mutex)
    kref_put(st.kref, discwrite_delete)  # the interface's reference


discwrite_driver = Driver(name="discwrite", bus="usb", id_table=MODULE_DEVICE_TABLE,
                          probe=discwrite_probe, remove=discwrite_disconnect)


@module_init
def discwrite_init():
    return driver_register(discwrite_driver)


@module_exit
def discwrite_exit():
    driver_unregister(discwrite_driver)
