"""iowardisc: iowarrior.py (Linux's drivers/usb/misc/iowarrior.c) with the disconnect
handler as it was before CVE-2019-19528 was fixed.

The same line-by-line port as target_modules/iowarrior.py (see its docstring for how
the port reads, and for its data_race() marks, kept here as they are), except
iowarrior_disconnect, which drops dev->mutex where Linux did from v5.3 (Oliver
Neukum's c468a8aa790e "usb: iowarrior: fix deadlock on disconnect") until commit
edc4746f253d "USB: iowarrior: fix use-after-free on disconnect" (Johan Hovold, 2019;
CVE-2019-19528): right after it clears dev->present, before it tests dev->opened.
The fix moved the unlock into both branches, after the wake-ups and before
iowarrior_delete(). Only that unlock is reverted: the 2019 function also took
iowarrior_open_disc_lock around it, a lock the mainline this port follows no longer
has, and today's function also kills the anchored write urbs, as this twin does.

BUG (use-after-free, CVE-2019-19528): the 2019 disconnect is

    mutex_lock(&dev->mutex);
    /* prevent device read, write and ioctl */
    dev->present = 0;
    mutex_unlock(&dev->mutex);

    if (dev->opened) {
            usb_kill_urb(dev->int_in_urb);
            ...
    } else {
            iowarrior_delete(dev);
    }

so a release() that takes dev->mutex between the unlock and the test sees the
device gone, clears dev->opened and frees dev (iowarrior_delete), and disconnect
then reads dev->opened from the freed buffer (and would use dev->int_in_urb and the
wait queues, or free dev a second time). The fix's message: "A recent fix addressing
a deadlock on disconnect introduced a new bug by moving the present flag out of the
critical section protected by the driver-data mutex. This could lead to a racing
release() freeing the driver data before disconnect() is done with it."
The repro (iowardisc.kfz) opens an IOWarrior40, then runs `t1: unplug dev0` and
`t2: close fd0` together under `schedule: t1 at mutex_unlock -> t2`: the close runs
at disconnect's first mutex_unlock. Expected: "KASAN: use-after-free in
iowarrior_disconnect". Either serial order is clean, and so is iowarrior.py under
the same schedule.
"""
import struct

from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_AUTHOR = "Christian Lucht <lucht@codemercs.com>"
MODULE_DESCRIPTION = "USB IO-Warrior driver"
# #include <linux/module.h>, <linux/usb.h>, <linux/slab.h>, <linux/sched.h>,
# <linux/mutex.h>, <linux/poll.h>: kfuzz.kapi. The constants of the three below that
# kfuzz.kapi lacks:
HID_REQ_GET_REPORT = 0x01  # <linux/hid.h>
HID_REQ_SET_REPORT = 0x09  # <linux/hid.h>
USB_TYPE_CLASS = 0x01 << 5  # <uapi/linux/usb/ch9.h>
USB_RECIP_INTERFACE = 0x01  # <uapi/linux/usb/ch9.h>
USB_CTRL_GET_TIMEOUT = 5000  # <linux/usb.h>
USB_CTRL_SET_TIMEOUT = 5000  # <linux/usb.h>

# #include <linux/usb/iowarrior.h>
CODEMERCS_MAGIC_NUMBER = 0xC0  # like COde Mercenaries
# Define the ioctl commands for reading and writing data (sizeof(__u8 *) is 8)
IOW_WRITE = _IOW(CODEMERCS_MAGIC_NUMBER, 1, 8)
IOW_READ = _IOW(CODEMERCS_MAGIC_NUMBER, 2, 8)
# A struct for available device info which is read with the ioctl IOW_GETINFO:
# struct iowarrior_info {
#	__u32 vendor;		/* vendor id : supposed to be USB_VENDOR_ID_CODEMERCS in all cases */
#	__u32 product;		/* product id : depends on type of chip (USB_DEVICE_ID_CODEMERCS_X) */
#	__u8 serial[9];		/* the serial number of our chip (if a serial-number is not available
#				   this is empty string) */
#	__u32 revision;		/* revision number of the chip */
#	__u32 speed;		/* USB-speed of the device (0=UNKNOWN, 1=LOW, 2=FULL 3=HIGH) */
#	__u32 power;		/* power consumption of the device in mA */
#	__u32 if_num;		/* the number of the endpoint */
#	__u32 report_size;	/* size of the data-packets on this interface */
# };
# Its layout on x86-64: serial at 8..16, three bytes of padding, revision at 20;
# sizeof(struct iowarrior_info) is 40.
IOWARRIOR_INFO_LAYOUT = "<II9s3xIIIII"
SIZEOF_IOWARRIOR_INFO = 40
# Get some device-information (product-id , serial-number etc.) in order to identify a chip.
IOW_GETINFO = _IOR(CODEMERCS_MAGIC_NUMBER, 3, SIZEOF_IOWARRIOR_INFO)

USB_VENDOR_ID_CODEMERCS = 1984
# low speed iowarrior
USB_DEVICE_ID_CODEMERCS_IOW40 = 0x1500
USB_DEVICE_ID_CODEMERCS_IOW24 = 0x1501
USB_DEVICE_ID_CODEMERCS_IOWPV1 = 0x1511
USB_DEVICE_ID_CODEMERCS_IOWPV2 = 0x1512
# full speed iowarrior
USB_DEVICE_ID_CODEMERCS_IOW56 = 0x1503
# fuller speed iowarrior
USB_DEVICE_ID_CODEMERCS_IOW28 = 0x1504
USB_DEVICE_ID_CODEMERCS_IOW28L = 0x1505
USB_DEVICE_ID_CODEMERCS_IOW100 = 0x1506

# OEMed devices
USB_DEVICE_ID_CODEMERCS_IOW24SAG = 0x158A
USB_DEVICE_ID_CODEMERCS_IOW56AM = 0x158B

# Get a minor range for your devices from the usb maintainer
# (#ifdef CONFIG_USB_DYNAMIC_MINORS the base is 0; kfuzz's usb core has static minors)
IOWARRIOR_MINOR_BASE = 208  # SKELETON_MINOR_BASE 192 + 16, not official yet

# interrupt input queue size
MAX_INTERRUPT_BUFFER = 16
# maximum number of urbs that are submitted for writes at the same time,
# this applies to the IOWarrior56 only!
# IOWarrior24 and IOWarrior40 use synchronous usb_control_msg calls.
MAX_WRITES_IN_FLIGHT = 4

# MODULE_AUTHOR(DRIVER_AUTHOR); MODULE_DESCRIPTION(DRIVER_DESC); MODULE_LICENSE("GPL"):
# above, as kfuzz reads them.

# static struct usb_driver iowarrior_driver;  (defined at the end; Python needs no
# forward declaration)

# --------------
#      data
# --------------

# Structure to hold all of our device specific stuff: struct iowarrior {
#	struct mutex mutex;			/* locks this structure */
#	struct usb_device *udev;		/* save off the usb device pointer */
#	struct usb_interface *interface;	/* the interface for this device */
#	struct usb_endpoint_descriptor *int_out_endpoint;	/* endpoint for reading (needed for IOW56 only) */
#	struct usb_endpoint_descriptor *int_in_endpoint;	/* endpoint for reading */
#	struct urb *int_in_urb;		/* the urb for reading data */
#	unsigned char *int_in_buffer;	/* buffer for data to be read */
#	unsigned char serial_number;	/* to detect lost packages */
#	unsigned char *read_queue;	/* size is MAX_INTERRUPT_BUFFER * packet size */
#	wait_queue_head_t read_wait;
#	wait_queue_head_t write_wait;	/* wait-queue for writing to the device */
#	atomic_t write_busy;		/* number of write-urbs submitted */
#	atomic_t read_idx;
#	atomic_t intr_idx;
#	atomic_t overflow_flag;		/* signals an index 'rollover' */
#	int present;			/* this is 1 as long as the device is connected */
#	int opened;			/* this is 1 if the device is currently open */
#	char chip_serial[9];		/* the serial number string of the chip connected */
#	int report_size;		/* number of bytes in a report */
#	u16 product_id;
#	struct usb_anchor submitted;
# };
SIZEOF_IOWARRIOR = 248  # sizeof(struct iowarrior) on x86-64 without lock debugging
CHIP_SERIAL_SIZE = 9  # sizeof(dev->chip_serial)

# --------------
#     globals
# --------------


# //#if 0
def usb_get_report(dev, inter, type, id, buf, size):
    return usb_control_msg(dev, usb_rcvctrlpipe(dev, 0),
                           HID_REQ_GET_REPORT,
                           USB_DIR_IN | USB_TYPE_CLASS |
                           USB_RECIP_INTERFACE, (type << 8) + id,
                           inter.desc.bInterfaceNumber, buf, size,
                           USB_CTRL_GET_TIMEOUT)
# //#endif


def usb_set_report(intf, type, id, buf, size):
    return usb_control_msg(interface_to_usbdev(intf),
                           usb_sndctrlpipe(interface_to_usbdev(intf), 0),
                           HID_REQ_SET_REPORT,
                           USB_TYPE_CLASS | USB_RECIP_INTERFACE,
                           (type << 8) + id,
                           intf.cur_altsetting.desc.bInterfaceNumber, buf,
                           size, 1000)


# ---------------------
#  driver registration
# ---------------------
# table of devices that work with this driver (USB_VENDOR_ID_CODEMERCS is 1984, 0x07c0)
MODULE_DEVICE_TABLE = [
    USB_DEVICE(0x07C0, 0x1500),  # USB_DEVICE_ID_CODEMERCS_IOW40
    USB_DEVICE(0x07C0, 0x1501),  # USB_DEVICE_ID_CODEMERCS_IOW24
    USB_DEVICE(0x07C0, 0x1511),  # USB_DEVICE_ID_CODEMERCS_IOWPV1
    USB_DEVICE(0x07C0, 0x1512),  # USB_DEVICE_ID_CODEMERCS_IOWPV2
    USB_DEVICE(0x07C0, 0x1503),  # USB_DEVICE_ID_CODEMERCS_IOW56
    USB_DEVICE(0x07C0, 0x158A),  # USB_DEVICE_ID_CODEMERCS_IOW24SAG
    USB_DEVICE(0x07C0, 0x158B),  # USB_DEVICE_ID_CODEMERCS_IOW56AM
    USB_DEVICE(0x07C0, 0x1504),  # USB_DEVICE_ID_CODEMERCS_IOW28
    USB_DEVICE(0x07C0, 0x1505),  # USB_DEVICE_ID_CODEMERCS_IOW28L
    USB_DEVICE(0x07C0, 0x1506),  # USB_DEVICE_ID_CODEMERCS_IOW100
    # {} Terminating entry: a Python list needs none
]
iowarrior_ids = MODULE_DEVICE_TABLE  # MODULE_DEVICE_TABLE(usb, iowarrior_ids);


def iowarrior_callback(urb):
    """USB callback handler for reading data"""
    dev = urb.context
    status = urb.status

    while True:  # a block run once: `break` is C's `goto exit`
        if status == 0:
            # success
            pass
        elif status in (-ECONNRESET, -ENOENT, -ESHUTDOWN):
            return
        else:
            break  # goto exit

        intr_idx = READ_ONCE(dev, "intr_idx")  # atomic_read(&dev->intr_idx)
        # aux_idx become previous intr_idx
        aux_idx = (MAX_INTERRUPT_BUFFER - 1) if (intr_idx == 0) else (intr_idx - 1)
        read_idx = READ_ONCE(dev, "read_idx")  # atomic_read(&dev->read_idx)

        # queue is not empty and it's interface 0
        if ((intr_idx != read_idx)
                and (dev.interface.cur_altsetting.desc.bInterfaceNumber == 0)):
            # + 1 for serial number
            offset = aux_idx * (dev.report_size + 1)
            if (dev.read_queue[offset:offset + dev.report_size]  # !memcmp(...)
                    == urb.transfer_buffer[0:dev.report_size]):
                # equal values on interface 0 will be ignored
                break  # goto exit

        # aux_idx become next intr_idx
        aux_idx = 0 if (intr_idx == (MAX_INTERRUPT_BUFFER - 1)) else (intr_idx + 1)
        if read_idx == aux_idx:
            # queue full, dropping oldest input
            read_idx += 1
            read_idx = 0 if read_idx == MAX_INTERRUPT_BUFFER else read_idx
            WRITE_ONCE(dev, "read_idx", read_idx)  # atomic_set(&dev->read_idx, read_idx)
            WRITE_ONCE(dev, "overflow_flag", 1)  # atomic_set(&dev->overflow_flag, 1)

        # +1 for serial number
        offset = intr_idx * (dev.report_size + 1)
        dev.read_queue[offset:offset + dev.report_size] = urb.transfer_buffer[0:dev.report_size]  # memcpy
        dev.read_queue[offset + dev.report_size] = dev.serial_number  # ... = dev->serial_number++;
        dev.serial_number = (dev.serial_number + 1) & 0xFF  # an unsigned char

        WRITE_ONCE(dev, "intr_idx", aux_idx)  # atomic_set(&dev->intr_idx, aux_idx)
        # tell the blocking read about the new data
        wake_up_interruptible(dev.read_wait)
        break

    # exit:
    retval = usb_submit_urb(urb, GFP_ATOMIC)
    if retval:
        dev_err(dev.interface.dev, "%s - usb_submit_urb failed with result %d",
                "iowarrior_callback", retval)


def iowarrior_write_callback(urb):
    """USB Callback handler for write-ops"""
    status = urb.status

    dev = urb.context
    # sync/async unlink faults aren't errors
    if (status and
            not (status == -ENOENT or
                 status == -ECONNRESET or status == -ESHUTDOWN)):
        dev_dbg(dev.interface.dev,
                "nonzero write bulk status received: %d", status)
    # free up our allocated buffer
    kfree(urb.transfer_buffer)
    # tell a waiting writer the interrupt-out-pipe is available again
    WRITE_ONCE(dev, "write_busy", READ_ONCE(dev, "write_busy") - 1)  # atomic_dec(&dev->write_busy)
    wake_up_interruptible(dev.write_wait)


def iowarrior_delete(dev):
    """iowarrior_delete"""
    kfree(dev.int_in_buffer)
    usb_free_urb(dev.int_in_urb)
    kfree(dev.read_queue)
    usb_put_intf(dev.interface)
    kfree(dev)


# ---------------------
#  fops implementation
# ---------------------

def read_index(dev):
    read_idx = READ_ONCE(dev, "read_idx")  # atomic_read(&dev->read_idx)
    intr_idx = READ_ONCE(dev, "intr_idx")  # atomic_read(&dev->intr_idx)

    return -1 if read_idx == intr_idx else read_idx


def iowarrior_read(file, buffer, count, ppos):
    """iowarrior_read"""
    dev = file.private_data

    if file.f_flags & O_NONBLOCK:
        retval = mutex_trylock(dev.mutex)
        if not retval:
            return -EAGAIN
    else:
        retval = mutex_lock_interruptible(dev.mutex)
        if retval:
            return -ERESTARTSYS

    # verify that the device wasn't unplugged
    if not dev.present:
        retval = -ENODEV
        mutex_unlock(dev.mutex)  # goto exit
        return retval

    # read count must be packet size (+ time stamp)
    if ((count != dev.report_size)
            and (count != (dev.report_size + 1))):
        retval = -EINVAL
        mutex_unlock(dev.mutex)  # goto exit
        return retval

    # the wait's condition below assigns read_idx, as the C expression does: through a
    # one-item list here (*p is p[0])
    idx = [-1]
    # repeat until no buffer overrun in callback handler occur
    while True:  # do {
        WRITE_ONCE(dev, "overflow_flag", 0)  # atomic_set(&dev->overflow_flag, 0)
        read_idx = read_index(dev)
        if read_idx == -1:
            # queue empty
            if file.f_flags & O_NONBLOCK:
                retval = -EAGAIN
                mutex_unlock(dev.mutex)  # goto exit
                return retval
            else:
                # next line will return when there is either new data, or the device is unplugged
                idx[0] = read_idx
                r = wait_event_interruptible(dev.read_wait,
                                             lambda: (not dev.present
                                                      or idx.__setitem__(0, read_index(dev))
                                                      or idx[0] != -1))
                read_idx = idx[0]
                if r:
                    # we were interrupted by a signal
                    retval = -ERESTART
                    mutex_unlock(dev.mutex)  # goto exit
                    return retval
                if not dev.present:
                    # The device was unplugged
                    retval = -ENODEV
                    mutex_unlock(dev.mutex)  # goto exit
                    return retval
                if read_idx == -1:
                    # Can this happen ???
                    retval = 0
                    mutex_unlock(dev.mutex)  # goto exit
                    return retval

        offset = read_idx * (dev.report_size + 1)
        # copy_to_user(buffer, dev->read_queue + offset, count)
        if copy_to_user(buffer, dev.read_queue[offset:offset + count], count):
            retval = -EFAULT
            mutex_unlock(dev.mutex)  # goto exit
            return retval
        if not READ_ONCE(dev, "overflow_flag"):  # } while (atomic_read(&dev->overflow_flag));
            break

    read_idx += 1
    read_idx = 0 if read_idx == MAX_INTERRUPT_BUFFER else read_idx
    WRITE_ONCE(dev, "read_idx", read_idx)  # atomic_set(&dev->read_idx, read_idx)
    mutex_unlock(dev.mutex)
    return count


def iowarrior_write(file, user_buffer, count, ppos):
    """iowarrior_write"""
    buf = None  # for IOW24 and IOW56 we need a buffer
    int_out_urb = None

    dev = file.private_data

    retval = mutex_lock_interruptible(dev.mutex)
    if retval:
        return -EINTR

    # verify that the device wasn't unplugged
    if not dev.present:
        retval = -ENODEV
        mutex_unlock(dev.mutex)  # goto exit
        return retval
    # if count is 0 we're already done
    if count == 0:
        retval = 0
        mutex_unlock(dev.mutex)  # goto exit
        return retval
    # We only accept full reports
    if count != dev.report_size:
        retval = -EINVAL
        mutex_unlock(dev.mutex)  # goto exit
        return retval
    if dev.product_id in (USB_DEVICE_ID_CODEMERCS_IOW24,
                          USB_DEVICE_ID_CODEMERCS_IOW24SAG,
                          USB_DEVICE_ID_CODEMERCS_IOWPV1,
                          USB_DEVICE_ID_CODEMERCS_IOWPV2,
                          USB_DEVICE_ID_CODEMERCS_IOW40):
        # IOW24 and IOW40 use a synchronous call
        buf = memdup_user(user_buffer, count)
        if IS_ERR(buf):
            retval = PTR_ERR(buf)
            mutex_unlock(dev.mutex)  # goto exit
            return retval
        retval = usb_set_report(dev.interface, 2, 0, buf, count)
        kfree(buf)
        mutex_unlock(dev.mutex)  # goto exit
        return retval
    elif dev.product_id in (USB_DEVICE_ID_CODEMERCS_IOW56,
                            USB_DEVICE_ID_CODEMERCS_IOW56AM,
                            USB_DEVICE_ID_CODEMERCS_IOW28,
                            USB_DEVICE_ID_CODEMERCS_IOW28L,
                            USB_DEVICE_ID_CODEMERCS_IOW100):
        # The IOW56 uses asynchronous IO and more urbs
        if READ_ONCE(dev, "write_busy") == MAX_WRITES_IN_FLIGHT:  # atomic_read(&dev->write_busy)
            # Wait until we are below the limit for submitted urbs
            if file.f_flags & O_NONBLOCK:
                retval = -EAGAIN
                mutex_unlock(dev.mutex)  # goto exit
                return retval
            else:
                retval = wait_event_interruptible(dev.write_wait,
                                                  lambda: (not dev.present or (READ_ONCE(dev, "write_busy")
                                                                               < MAX_WRITES_IN_FLIGHT)))
                if retval:
                    # we were interrupted by a signal
                    retval = -ERESTART
                    mutex_unlock(dev.mutex)  # goto exit
                    return retval
                if not dev.present:
                    # The device was unplugged
                    retval = -ENODEV
                    mutex_unlock(dev.mutex)  # goto exit
                    return retval
                if not dev.opened:
                    # We were closed while waiting for an URB
                    retval = -ENODEV
                    mutex_unlock(dev.mutex)  # goto exit
                    return retval
        WRITE_ONCE(dev, "write_busy", READ_ONCE(dev, "write_busy") + 1)  # atomic_inc(&dev->write_busy)
        int_out_urb = usb_alloc_urb(0, GFP_KERNEL)
        if not int_out_urb:
            retval = -ENOMEM
            # goto error_no_urb:
            WRITE_ONCE(dev, "write_busy", READ_ONCE(dev, "write_busy") - 1)  # atomic_dec(&dev->write_busy)
            wake_up_interruptible(dev.write_wait)
            mutex_unlock(dev.mutex)  # exit:
            return retval
        buf = kmalloc(dev.report_size, GFP_KERNEL)
        if not buf:
            retval = -ENOMEM
            dev_dbg(dev.interface.dev,
                    "Unable to allocate buffer")
            # goto error_no_buffer:
            usb_free_urb(int_out_urb)
            # error_no_urb:
            WRITE_ONCE(dev, "write_busy", READ_ONCE(dev, "write_busy") - 1)  # atomic_dec(&dev->write_busy)
            wake_up_interruptible(dev.write_wait)
            mutex_unlock(dev.mutex)  # exit:
            return retval
        usb_fill_int_urb(int_out_urb, dev.udev,
                         usb_sndintpipe(dev.udev,
                                        dev.int_out_endpoint.bEndpointAddress),
                         buf, dev.report_size,
                         iowarrior_write_callback, dev,
                         dev.int_out_endpoint.bInterval)
        if copy_from_user(buf, user_buffer, count):
            retval = -EFAULT
            # goto error:
            kfree(buf)
            # error_no_buffer:
            usb_free_urb(int_out_urb)
            # error_no_urb:
            WRITE_ONCE(dev, "write_busy", READ_ONCE(dev, "write_busy") - 1)  # atomic_dec(&dev->write_busy)
            wake_up_interruptible(dev.write_wait)
            mutex_unlock(dev.mutex)  # exit:
            return retval
        usb_anchor_urb(int_out_urb, dev.submitted)
        retval = usb_submit_urb(int_out_urb, GFP_KERNEL)
        if retval:
            dev_dbg(dev.interface.dev,
                    "submit error %d for urb nr.%d",
                    retval, READ_ONCE(dev, "write_busy"))
            usb_unanchor_urb(int_out_urb)
            # goto error:
            kfree(buf)
            # error_no_buffer:
            usb_free_urb(int_out_urb)
            # error_no_urb:
            WRITE_ONCE(dev, "write_busy", READ_ONCE(dev, "write_busy") - 1)  # atomic_dec(&dev->write_busy)
            wake_up_interruptible(dev.write_wait)
            mutex_unlock(dev.mutex)  # exit:
            return retval
        # submit was ok
        retval = count
        usb_free_urb(int_out_urb)
        mutex_unlock(dev.mutex)  # goto exit
        return retval
    else:
        # what do we have here ? An unsupported Product-ID ?
        dev_err(dev.interface.dev, "%s - not supported for product=0x%x",
                "iowarrior_write", dev.product_id)
        retval = -EFAULT
        mutex_unlock(dev.mutex)  # goto exit
        return retval


def iowarrior_ioctl(file, cmd, arg):
    """iowarrior_ioctl"""
    dev = file.private_data
    if not dev:
        return -ENODEV

    buffer = kzalloc(dev.report_size, GFP_KERNEL)
    if not buffer:
        return -ENOMEM

    mutex_lock(dev.mutex)

    # verify that the device wasn't unplugged
    if not dev.present:
        retval = -ENODEV
        # goto error_out:
        mutex_unlock(dev.mutex)
        kfree(buffer)
        return retval

    retval = 0
    if cmd == IOW_WRITE:
        if (dev.product_id == USB_DEVICE_ID_CODEMERCS_IOW24 or
                dev.product_id == USB_DEVICE_ID_CODEMERCS_IOW24SAG or
                dev.product_id == USB_DEVICE_ID_CODEMERCS_IOWPV1 or
                dev.product_id == USB_DEVICE_ID_CODEMERCS_IOWPV2 or
                dev.product_id == USB_DEVICE_ID_CODEMERCS_IOW40):
            user_buffer = arg
            io_res = copy_from_user(buffer, user_buffer,
                                    dev.report_size)
            if io_res:
                retval = -EFAULT
            else:
                io_res = usb_set_report(dev.interface, 2, 0,
                                        buffer,
                                        dev.report_size)
                if io_res < 0:
                    retval = io_res
        else:
            retval = -EINVAL
            dev_err(dev.interface.dev,
                    "ioctl 'IOW_WRITE' is not supported for product=0x%x.",
                    dev.product_id)
    elif cmd == IOW_READ:
        user_buffer = arg
        io_res = usb_get_report(dev.udev,
                                dev.interface.cur_altsetting, 1, 0,
                                buffer, dev.report_size)
        if io_res < 0:
            retval = io_res
        else:
            io_res = copy_to_user(user_buffer, buffer, dev.report_size)
            if io_res:
                retval = -EFAULT
    elif cmd == IOW_GETINFO:
        # Report available information for the device
        # needed for power consumption
        cfg_descriptor = dev.udev.actconfig.desc

        # memset(&info, 0, sizeof(info)): the fields below, then packed as the C struct
        # directly from the descriptor
        info_vendor = dev.udev.descriptor.idVendor  # le16_to_cpu: kfuzz's fields are host-order
        info_product = dev.product_id
        info_revision = dev.udev.descriptor.bcdDevice  # le16_to_cpu, as above

        # 0==UNKNOWN, 1==LOW(usb1.1) ,2=FULL(usb1.1), 3=HIGH(usb2.0)
        info_speed = dev.udev.speed
        info_if_num = dev.interface.cur_altsetting.desc.bInterfaceNumber
        info_report_size = dev.report_size

        # serial number string has been read earlier 8 chars or empty string
        info_serial = bytes(dev.chip_serial[0:CHIP_SERIAL_SIZE])  # memcpy(info.serial, ...)
        if cfg_descriptor is None:
            info_power = -1 & 0xFFFFFFFF  # no information available (-1 in a __u32)
        else:
            # the MaxPower is stored in units of 2mA to make it fit into a byte-value
            info_power = cfg_descriptor.bMaxPower * 2
        info = struct.pack(IOWARRIOR_INFO_LAYOUT, info_vendor, info_product, info_serial,
                           info_revision, info_speed, info_power, info_if_num, info_report_size)
        io_res = copy_to_user(arg, info,
                              SIZEOF_IOWARRIOR_INFO)
        if io_res:
            retval = -EFAULT
    else:
        # return that we did not understand this ioctl call
        retval = -ENOTTY
    # error_out:
    # unlock the device
    mutex_unlock(dev.mutex)
    kfree(buffer)
    return retval


def iowarrior_open(inode, file):
    """iowarrior_open"""
    retval = 0

    subminor = iminor(inode)

    interface = usb_find_interface(iowarrior_driver, subminor)
    if not interface:
        pr_err("%s - error, can't find device for minor %d",
               "iowarrior_open", subminor)
        return -ENODEV

    dev = usb_get_intfdata(interface)
    if not dev:
        return -ENODEV

    mutex_lock(dev.mutex)

    # Only one process can open each device, no sharing.
    if dev.opened:
        retval = -EBUSY
        mutex_unlock(dev.mutex)  # goto out
        return retval

    # setup interrupt handler for receiving values
    retval = usb_submit_urb(dev.int_in_urb, GFP_KERNEL)
    if retval < 0:
        dev_err(interface.dev, "Error %d while submitting URB", retval)
        retval = -EFAULT
        mutex_unlock(dev.mutex)  # goto out
        return retval
    # increment our usage count for the driver
    dev.opened += 1
    # save our object in the file's private structure
    file.private_data = dev
    retval = 0

    mutex_unlock(dev.mutex)  # out:
    return retval


def iowarrior_release(inode, file):
    """iowarrior_release"""
    retval = 0

    dev = file.private_data
    if not dev:
        return -ENODEV

    # lock our device
    mutex_lock(dev.mutex)

    if dev.opened <= 0:
        retval = -ENODEV  # close called more than once
        mutex_unlock(dev.mutex)
    else:
        dev.opened = 0  # we're closing now
        retval = 0
        if dev.present:
            # The device is still connected so we only shutdown
            # pending read-/write-ops.
            usb_kill_urb(dev.int_in_urb)
            wake_up_interruptible(dev.read_wait)
            wake_up_interruptible(dev.write_wait)
            mutex_unlock(dev.mutex)
        else:
            # The device was unplugged, cleanup resources
            mutex_unlock(dev.mutex)
            iowarrior_delete(dev)
    return retval


def iowarrior_poll(file, wait):
    dev = file.private_data
    mask = 0

    if not data_race(lambda: dev.present):  # if (!dev->present): see the docstring
        return EPOLLERR | EPOLLHUP

    poll_wait(file, dev.read_wait, wait)
    poll_wait(file, dev.write_wait, wait)

    if not data_race(lambda: dev.present):  # if (!dev->present): see the docstring
        return EPOLLERR | EPOLLHUP

    if read_index(dev) != -1:
        mask |= EPOLLIN | EPOLLRDNORM

    if READ_ONCE(dev, "write_busy") < MAX_WRITES_IN_FLIGHT:  # atomic_read(&dev->write_busy)
        mask |= EPOLLOUT | EPOLLWRNORM
    return mask


# File operations needed when we register this driver.
# This assumes that this driver NEEDS file operations,
# of course, which means that the driver is expected
# to have a node in the /dev directory. If the USB
# device were for a network interface then the driver
# would use "struct net_driver" instead, and a serial
# device would use "struct tty_driver".
iowarrior_fops = FileOperations(
    owner=THIS_MODULE,
    write=iowarrior_write,
    read=iowarrior_read,
    unlocked_ioctl=iowarrior_ioctl,
    open=iowarrior_open,
    release=iowarrior_release,
    poll=iowarrior_poll,
    llseek=noop_llseek,
)

# static char *iowarrior_devnode(const struct device *dev, umode_t *mode)
# {
#	return kasprintf(GFP_KERNEL, "usb/%s", dev_name(dev));
# }
# No counterpart: devnode only tells udev to put the node under /dev/usb/; kfuzz's
# usb_register_dev makes the node itself, as /dev/iowarrior0, and its
# UsbClassDriver has no devnode (nor kfuzz.kapi a kasprintf or dev_name).

# usb class driver info in order to get a minor number from the usb core,
# and to have the device registered with devfs and the driver core
iowarrior_class = UsbClassDriver(
    name="iowarrior%d",
    # .devnode = iowarrior_devnode: see above
    fops=iowarrior_fops,
    minor_base=IOWARRIOR_MINOR_BASE,
)


# ---------------------------------
#   probe and disconnect functions
# ---------------------------------
def iowarrior_probe(interface, id):
    """iowarrior_probe

    Called by the usb core when a new device is connected that it thinks
    this driver might be interested in."""
    udev = interface_to_usbdev(interface)
    retval = -ENOMEM

    # allocate memory for our device state and initialize it
    dev = kzalloc(SIZEOF_IOWARRIOR, GFP_KERNEL)  # kzalloc_obj(struct iowarrior)
    if not dev:
        return retval

    dev.mutex = mutex_init()

    WRITE_ONCE(dev, "intr_idx", 0)  # atomic_set(&dev->intr_idx, 0)
    WRITE_ONCE(dev, "read_idx", 0)  # atomic_set(&dev->read_idx, 0)
    WRITE_ONCE(dev, "overflow_flag", 0)  # atomic_set(&dev->overflow_flag, 0)
    dev.read_wait = init_waitqueue_head()
    WRITE_ONCE(dev, "write_busy", 0)  # atomic_set(&dev->write_busy, 0)
    dev.write_wait = init_waitqueue_head()

    dev.udev = udev
    dev.interface = usb_get_intf(interface)

    iface_desc = interface.cur_altsetting
    dev.product_id = udev.descriptor.idProduct  # le16_to_cpu: kfuzz's fields are host-order

    dev.submitted = init_usb_anchor()

    int_in_endpoint = [None]  # &dev->int_in_endpoint: *p is p[0]
    res = usb_find_last_int_in_endpoint(iface_desc, int_in_endpoint)
    dev.int_in_endpoint = int_in_endpoint[0]
    if res:
        dev_err(interface.dev, "no interrupt-in endpoint found")
        retval = res
        iowarrior_delete(dev)  # goto error:
        return retval

    if ((dev.product_id == USB_DEVICE_ID_CODEMERCS_IOW56) or
            (dev.product_id == USB_DEVICE_ID_CODEMERCS_IOW56AM) or
            (dev.product_id == USB_DEVICE_ID_CODEMERCS_IOW28) or
            (dev.product_id == USB_DEVICE_ID_CODEMERCS_IOW28L) or
            (dev.product_id == USB_DEVICE_ID_CODEMERCS_IOW100)):
        int_out_endpoint = [None]  # &dev->int_out_endpoint
        res = usb_find_last_int_out_endpoint(iface_desc,
                                             int_out_endpoint)
        dev.int_out_endpoint = int_out_endpoint[0]
        if res:
            dev_err(interface.dev, "no interrupt-out endpoint found")
            retval = res
            iowarrior_delete(dev)  # goto error:
            return retval

    # we have to check the report_size often, so remember it in the endianness suitable for our machine
    dev.report_size = usb_endpoint_maxp(dev.int_in_endpoint)

    # Some devices need the report size to be different than the
    # endpoint size.
    if dev.interface.cur_altsetting.desc.bInterfaceNumber == 0:
        if dev.product_id in (USB_DEVICE_ID_CODEMERCS_IOW56,
                              USB_DEVICE_ID_CODEMERCS_IOW56AM):
            dev.report_size = 7
        elif dev.product_id in (USB_DEVICE_ID_CODEMERCS_IOW28,
                                USB_DEVICE_ID_CODEMERCS_IOW28L):
            dev.report_size = 4
        elif dev.product_id == USB_DEVICE_ID_CODEMERCS_IOW100:
            dev.report_size = 12

    # create the urb and buffer for reading
    dev.int_in_urb = usb_alloc_urb(0, GFP_KERNEL)
    if not dev.int_in_urb:
        iowarrior_delete(dev)  # goto error:
        return retval
    dev.int_in_buffer = kmalloc(dev.report_size, GFP_KERNEL)
    if not dev.int_in_buffer:
        iowarrior_delete(dev)  # goto error:
        return retval
    usb_fill_int_urb(dev.int_in_urb, dev.udev,
                     usb_rcvintpipe(dev.udev,
                                    dev.int_in_endpoint.bEndpointAddress),
                     dev.int_in_buffer, dev.report_size,
                     iowarrior_callback, dev,
                     dev.int_in_endpoint.bInterval)
    # create an internal buffer for interrupt data from the device
    # kmalloc_array(dev->report_size + 1, MAX_INTERRUPT_BUFFER, GFP_KERNEL): the product
    # is at most 16 * 2048, it cannot overflow
    dev.read_queue = \
        kmalloc((dev.report_size + 1) * MAX_INTERRUPT_BUFFER,
                GFP_KERNEL)
    if not dev.read_queue:
        iowarrior_delete(dev)  # goto error:
        return retval
    # Get the serial-number of the chip
    dev.chip_serial = bytearray(CHIP_SERIAL_SIZE)  # memset(dev->chip_serial, 0x00, sizeof(...))
    usb_string(udev, udev.descriptor.iSerialNumber, dev.chip_serial,
               CHIP_SERIAL_SIZE)
    if len(bytes(dev.chip_serial).split(b"\0", 1)[0]) != 8:  # strlen(dev->chip_serial) != 8
        dev.chip_serial[0:CHIP_SERIAL_SIZE] = bytes(CHIP_SERIAL_SIZE)  # memset(..., 0x00, ...)

    # Set the idle timeout to 0, if this is interface 0
    if dev.interface.cur_altsetting.desc.bInterfaceNumber == 0:
        usb_control_msg(udev, usb_sndctrlpipe(udev, 0),
                        0x0A,
                        USB_TYPE_CLASS | USB_RECIP_INTERFACE, 0,
                        0, None, 0, USB_CTRL_SET_TIMEOUT)
    # allow device read and ioctl
    dev.present = 1

    # we can register the device now, as it is ready
    usb_set_intfdata(interface, dev)

    retval = usb_register_dev(interface, iowarrior_class)
    if retval:
        # something prevented us from registering this driver
        dev_err(interface.dev, "Not able to get a minor for this device.")
        iowarrior_delete(dev)  # goto error:
        return retval

    minor = interface.minor

    # let the user know what node this device is now attached to
    dev_info(interface.dev, "IOWarrior product=0x%x, serial=%s interface=%d "
             "now attached to iowarrior%d", dev.product_id,
             bytes(dev.chip_serial).split(b"\0", 1)[0].decode("latin-1"),
             iface_desc.desc.bInterfaceNumber, minor - IOWARRIOR_MINOR_BASE)
    return retval


def iowarrior_disconnect(interface):
    """iowarrior_disconnect

    Called by the usb core when the device is removed from the system."""
    dev = usb_get_intfdata(interface)

    usb_deregister_dev(interface, iowarrior_class)

    mutex_lock(dev.mutex)

    # prevent device read, write and ioctl
    dev.present = 0

    mutex_unlock(dev.mutex)  # BUG: before edc4746f253d, here, not in each branch below

    if dev.opened:
        # There is a process that holds a filedescriptor to the device ,
        # so we only shutdown read-/write-ops going on.
        # Deleting the device is postponed until close() was called.
        usb_kill_urb(dev.int_in_urb)
        usb_kill_anchored_urbs(dev.submitted)
        wake_up_interruptible(dev.read_wait)
        wake_up_interruptible(dev.write_wait)
    else:
        # no process is using the device, cleanup now
        iowarrior_delete(dev)


# usb specific object needed to register this driver with the usb subsystem
iowarrior_driver = UsbDriver(
    name="iowarrior",
    probe=iowarrior_probe,
    disconnect=iowarrior_disconnect,
    id_table=iowarrior_ids,
)

module_usb_driver(iowarrior_driver)
