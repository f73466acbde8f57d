"""Linux drivers/usb/usb-skeleton.c ("USB Skeleton driver - 2.2"), as in mainline
v6.17, ported line by line to kfuzz.

Copyright (C) 2001-2004 Greg Kroah-Hartman (greg@kroah.com); SPDX-License-Identifier:
GPL-2.0. The C file says of itself: "This driver is based on the 2.6.3 version of
drivers/usb/usb-skeleton.c but has been rewritten to be easier to read and use."

Every C function keeps its name and its statements, in order. Where C and Python
differ the port follows docs/module-api.md: `struct usb_skel` is a kzalloc'd buffer
whose fields are attributes, NULL is None, `&x` passed for the callee to fill is a
one-item list, a user pointer is an int, an object initialised in place
(`mutex_init(&dev->io_mutex)`) is a return value stored in its field, and a C macro
taking an expression takes a lambda. `goto` becomes structure: `goto retry` is a
`continue` of a `while True:` loop, `goto exit` and `goto error` leave a block with
`break` (or return at once where the label only returns), each marked with the label
it stands for. A C line with no Python counterpart is kept as a comment saying why;
local declarations without an initialiser are gathered in one such comment per
function (Python names need no declaration).

Differences from Linux (kfuzz's, not the driver's):

- `dev->bulk_in_buffer + dev->bulk_in_copied` (pointer arithmetic on kernel memory)
  is the slice `dev.bulk_in_buffer[copied:copied + chunk]`, which KASAN checks as
  copy_to_user's read of those bytes.
- `sizeof(*dev)` is SIZEOF_USB_SKEL, the C struct's size on x86_64 without lock
  debugging (kfuzz buffers hold fields by name; the size only counts for kmemleak).
- PAGE_SIZE is defined here (asm/page.h: 4096 on x86_64); kfuzz.kapi has none.
- `__func__` is written out as the function's name.

Linux's own data races, marked here: kfuzz's KCSAN finds them in the C code as it is,
and the port wraps the accesses in `data_race()` (Linux's annotation for an intended
race; the only lines whose meaning differs from the C file) so that it fuzzes clean.
tests/test_usb_skeleton.py runs the port with `data_race()` made plain again, as
Linux has these lines, and asserts that kfuzz reports them:

- skel_read reads dev->ongoing_read in its wait_event_interruptible condition without
  err_lock or READ_ONCE, and dev->errors and dev->bulk_in_filled after a wait that found
  its condition already true, unordered with skel_read_bulk_callback's writes of them
  (under err_lock, in softirq): "KCSAN: data-race in skel_read /
  skel_read_bulk_callback", a read against an unplug (or the device's answer).
- that flag, read plainly, is all that orders a read's usb_fill_bulk_urb() of the bulk-in
  URB after the previous completion's read of urb->context (the completion clears
  ongoing_read after it; a read that finds it clear refills the URB): "KCSAN: data-race
  in skel_do_read_io / skel_read_bulk_callback"; the completion's read is the one marked.
- skel_post_reset sets dev->errors "no locking needed", but skel_write reads it under
  err_lock before it takes io_mutex: "KCSAN: data-race in skel_post_reset / skel_write".

What kfuzz reports of it otherwise is Linux's own behaviour, kept as Linux has it:

- The completions store every status in dev->errors, the unlinks they call "not
  errors" too, so skel_flush's own usb_kill_urb of a read in flight makes close(2)
  fail with -EIO (after a read interrupted by a signal, say); kfuzz check's device
  cycles count that close as failed.
"""
from kfuzz.kapi import *

# #include <linux/kernel.h>, <linux/errno.h>, <linux/slab.h>, <linux/module.h>,
# <linux/kref.h>, <linux/uaccess.h>, <linux/usb.h>, <linux/mutex.h>:
# every name comes from kfuzz.kapi (the import above)

PAGE_SIZE = 4096  # arch/x86/include/asm/page_types.h, for MAX_TRANSFER


# Define these values to match your devices
USB_SKEL_VENDOR_ID = 0xfff0
USB_SKEL_PRODUCT_ID = 0xfff0

# table of devices that work with this driver
# MODULE_DEVICE_TABLE(usb, skel_table): kfuzz reads the table from this name, as a literal
MODULE_DEVICE_TABLE = [
    USB_DEVICE(0xfff0, 0xfff0),  # USB_DEVICE(USB_SKEL_VENDOR_ID, USB_SKEL_PRODUCT_ID)
    # { }  /* Terminating entry */: a Python list ends by itself
]
skel_table = MODULE_DEVICE_TABLE


# Get a minor range for your devices from the usb maintainer
USB_SKEL_MINOR_BASE = 192

# our private defines. if this grows any larger, use your own .h file
MAX_TRANSFER = PAGE_SIZE - 512
#
# MAX_TRANSFER is chosen so that the VM is not stressed by
# allocations > PAGE_SIZE and the number of packets in a page
# is an integer 512 is the largest possible packet on EHCI
#
WRITES_IN_FLIGHT = 8
# arbitrarily chosen

# Structure to hold all of our device specific stuff
# struct usb_skel {: a kzalloc'd buffer of SIZEOF_USB_SKEL bytes, whose fields are:
#   udev                   struct usb_device *     the usb device for this device
#   interface              struct usb_interface *  the interface for this device
#   limit_sem              struct semaphore        limiting the number of writes in progress
#   submitted              struct usb_anchor       in case we need to retract our submissions
#   bulk_in_urb            struct urb *            the urb to read data with
#   bulk_in_buffer         unsigned char *         the buffer to receive data
#   bulk_in_size           size_t                  the size of the receive buffer
#   bulk_in_filled         size_t                  number of bytes in the buffer
#   bulk_in_copied         size_t                  already copied to user space
#   bulk_in_endpointAddr   __u8                    the address of the bulk in endpoint
#   bulk_out_endpointAddr  __u8                    the address of the bulk out endpoint
#   errors                 int                     the last request tanked
#   ongoing_read           bool                    a read is going on
#   err_lock               spinlock_t              lock for errors
#   kref                   struct kref
#   io_mutex               struct mutex            synchronize I/O with disconnect
#   disconnected           unsigned long :1
#   bulk_in_wait           wait_queue_head_t       to wait for an ongoing read
# };
SIZEOF_USB_SKEL = 224  # x86_64 without lock debugging


def to_skel_dev(d):
    # #define to_skel_dev(d) container_of(d, struct usb_skel, kref)
    return container_of(d, "struct usb_skel", "kref")


# static struct usb_driver skel_driver;  static void skel_draw_down(struct usb_skel *dev);
# forward declarations: Python finds skel_driver and skel_draw_down when they are called


def skel_delete(kref):
    dev = to_skel_dev(kref)

    usb_free_urb(dev.bulk_in_urb)
    usb_put_intf(dev.interface)
    usb_put_dev(dev.udev)
    kfree(dev.bulk_in_buffer)
    kfree(dev)


def skel_open(inode, file):
    # declarations: struct usb_skel *dev; struct usb_interface *interface; int subminor;
    retval = 0

    subminor = iminor(inode)

    interface = usb_find_interface(skel_driver, subminor)
    if not interface:
        pr_err("%s - error, can't find device for minor %d\n",
               "skel_open", subminor)
        retval = -ENODEV
        return retval  # goto exit

    dev = usb_get_intfdata(interface)
    if not dev:
        retval = -ENODEV
        return retval  # goto exit

    retval = usb_autopm_get_interface(interface)
    if retval:
        return retval  # goto exit

    # increment our usage count for the device
    kref_get(dev.kref)

    # save our object in the file's private structure
    file.private_data = dev

    # exit:
    return retval


def skel_release(inode, file):
    # declarations: struct usb_skel *dev;

    dev = file.private_data
    if dev is None:
        return -ENODEV

    # allow the device to be autosuspended
    usb_autopm_put_interface(dev.interface)

    # decrement the count on our device
    kref_put(dev.kref, skel_delete)
    return 0


def skel_flush(file, id):
    # declarations: struct usb_skel *dev; int res;

    dev = file.private_data
    if dev is None:
        return -ENODEV

    # wait for io to stop
    mutex_lock(dev.io_mutex)
    skel_draw_down(dev)

    # read out errors, leave subsequent opens a clean slate
    spin_lock_irq(dev.err_lock)
    res = (-EPIPE if dev.errors == -EPIPE else -EIO) if dev.errors else 0
    dev.errors = 0
    spin_unlock_irq(dev.err_lock)

    mutex_unlock(dev.io_mutex)

    return res


def skel_read_bulk_callback(urb):
    # declarations: struct usb_skel *dev; unsigned long flags (spin_lock_irqsave returns it)

    dev = data_race(lambda: urb.context)  # dev = urb->context: see the docstring

    flags = spin_lock_irqsave(dev.err_lock)
    # sync/async unlink faults aren't errors
    if urb.status:
        if not (urb.status == -ENOENT or
                urb.status == -ECONNRESET or
                urb.status == -ESHUTDOWN):
            dev_err(dev.interface.dev,
                    "%s - nonzero write bulk status received: %d\n",
                    "skel_read_bulk_callback", urb.status)

        dev.errors = urb.status
    else:
        dev.bulk_in_filled = urb.actual_length
    dev.ongoing_read = 0
    spin_unlock_irqrestore(dev.err_lock, flags)

    wake_up_interruptible(dev.bulk_in_wait)


def skel_do_read_io(dev, count):
    # declarations: int rv;

    # prepare a read
    usb_fill_bulk_urb(dev.bulk_in_urb,
                      dev.udev,
                      usb_rcvbulkpipe(dev.udev,
                                      dev.bulk_in_endpointAddr),
                      dev.bulk_in_buffer,
                      min(dev.bulk_in_size, count),
                      skel_read_bulk_callback,
                      dev)
    # tell everybody to leave the URB alone
    spin_lock_irq(dev.err_lock)
    dev.ongoing_read = 1
    spin_unlock_irq(dev.err_lock)

    # submit bulk in urb, which means no data to deliver
    dev.bulk_in_filled = 0
    dev.bulk_in_copied = 0

    # do it
    rv = usb_submit_urb(dev.bulk_in_urb, GFP_KERNEL)
    if rv < 0:
        dev_err(dev.interface.dev,
                "%s - failed submitting read urb, error %d\n",
                "skel_do_read_io", rv)
        rv = rv if rv == -ENOMEM else -EIO
        spin_lock_irq(dev.err_lock)
        dev.ongoing_read = 0
        spin_unlock_irq(dev.err_lock)

    return rv


def skel_read(file, buffer, count, ppos):
    # declarations: struct usb_skel *dev; int rv; bool ongoing_io;

    dev = file.private_data

    if not count:
        return 0

    # no concurrent readers
    rv = mutex_lock_interruptible(dev.io_mutex)
    if rv < 0:
        return rv

    if dev.disconnected:  # disconnect() was called
        rv = -ENODEV
        # goto exit
    else:
        # if IO is under way, we must not touch things
        while True:  # retry: ('goto retry' is continue, 'goto exit' is break)
            spin_lock_irq(dev.err_lock)
            ongoing_io = dev.ongoing_read
            spin_unlock_irq(dev.err_lock)

            if ongoing_io:
                # nonblocking IO shall not wait
                if file.f_flags & O_NONBLOCK:
                    rv = -EAGAIN
                    break  # goto exit
                #
                # IO may take forever
                # hence wait in an interruptible state
                #
                rv = wait_event_interruptible(dev.bulk_in_wait,  # (!dev->ongoing_read): see the docstring
                                              lambda: not data_race(lambda: dev.ongoing_read))
                if rv < 0:
                    break  # goto exit

            # errors must be reported
            rv = data_race(lambda: dev.errors)  # rv = dev->errors;
            if rv < 0:
                # any error is reported once
                data_race(lambda: setattr(dev, "errors", 0))  # dev->errors = 0;
                # to preserve notifications about reset
                rv = rv if rv == -EPIPE else -EIO
                # report it
                break  # goto exit

            #
            # if the buffer is filled we may satisfy the read
            # else we need to start IO
            #

            if data_race(lambda: dev.bulk_in_filled):  # if (dev->bulk_in_filled) {
                # we had read data
                available = data_race(lambda: dev.bulk_in_filled) - dev.bulk_in_copied
                chunk = min(available, count)

                if not available:
                    #
                    # all data has been used
                    # actual IO needs to be done
                    #
                    rv = skel_do_read_io(dev, count)
                    if rv < 0:
                        break  # goto exit
                    else:
                        continue  # goto retry
                #
                # data is available
                # chunk tells us how much shall be copied
                #

                if copy_to_user(buffer,
                                dev.bulk_in_buffer[dev.bulk_in_copied:dev.bulk_in_copied + chunk],
                                chunk):
                    rv = -EFAULT
                else:
                    rv = chunk

                dev.bulk_in_copied += chunk

                #
                # if we are asked for more than we have,
                # we start IO but don't wait
                #
                if available < count:
                    skel_do_read_io(dev, count - chunk)
            else:
                # no data in the buffer
                rv = skel_do_read_io(dev, count)
                if rv < 0:
                    break  # goto exit
                else:
                    continue  # goto retry
            break  # the end of the block: on to exit
    # exit:
    mutex_unlock(dev.io_mutex)
    return rv


def skel_write_bulk_callback(urb):
    # declarations: struct usb_skel *dev; unsigned long flags (spin_lock_irqsave returns it)

    dev = urb.context

    # sync/async unlink faults aren't errors
    if urb.status:
        if not (urb.status == -ENOENT or
                urb.status == -ECONNRESET or
                urb.status == -ESHUTDOWN):
            dev_err(dev.interface.dev,
                    "%s - nonzero write bulk status received: %d\n",
                    "skel_write_bulk_callback", urb.status)

        flags = spin_lock_irqsave(dev.err_lock)
        dev.errors = urb.status
        spin_unlock_irqrestore(dev.err_lock, flags)

    # free up our allocated buffer
    usb_free_coherent(urb.dev, urb.transfer_buffer_length,
                      urb.transfer_buffer, urb.transfer_dma)
    up(dev.limit_sem)


def skel_write(file, user_buffer, count, ppos):
    # declarations: struct usb_skel *dev;
    retval = 0
    urb = None
    buf = None
    writesize = min(count, MAX_TRANSFER)  # min_t(size_t, count, MAX_TRANSFER)

    dev = file.private_data

    # verify that we actually have some data to write
    if count == 0:
        return retval  # goto exit

    #
    # limit the number of URBs in flight to stop a user from using up all
    # RAM
    #
    if not (file.f_flags & O_NONBLOCK):
        if down_interruptible(dev.limit_sem):
            retval = -ERESTARTSYS
            return retval  # goto exit
    else:
        if down_trylock(dev.limit_sem):
            retval = -EAGAIN
            return retval  # goto exit

    unanchor = False  # whether the block below left by 'goto error_unanchor'
    while True:  # the block 'goto error' and 'goto error_unanchor' leave (break)
        spin_lock_irq(dev.err_lock)
        retval = dev.errors
        if retval < 0:
            # any error is reported once
            dev.errors = 0
            # to preserve notifications about reset
            retval = retval if retval == -EPIPE else -EIO
        spin_unlock_irq(dev.err_lock)
        if retval < 0:
            break  # goto error

        # create a urb, and a buffer for it, and copy the data to the urb
        urb = usb_alloc_urb(0, GFP_KERNEL)
        if not urb:
            retval = -ENOMEM
            break  # goto error

        transfer_dma = [urb.transfer_dma]  # &urb->transfer_dma
        buf = usb_alloc_coherent(dev.udev, writesize, GFP_KERNEL,
                                 transfer_dma)
        urb.transfer_dma = transfer_dma[0]
        if not buf:
            retval = -ENOMEM
            break  # goto error

        if copy_from_user(buf, user_buffer, writesize):
            retval = -EFAULT
            break  # goto error

        # this lock makes sure we don't submit URBs to gone devices
        mutex_lock(dev.io_mutex)
        if dev.disconnected:  # disconnect() was called
            mutex_unlock(dev.io_mutex)
            retval = -ENODEV
            break  # goto error

        # initialize the urb properly
        usb_fill_bulk_urb(urb, dev.udev,
                          usb_sndbulkpipe(dev.udev, dev.bulk_out_endpointAddr),
                          buf, writesize, skel_write_bulk_callback, dev)
        urb.transfer_flags |= URB_NO_TRANSFER_DMA_MAP
        usb_anchor_urb(urb, dev.submitted)

        # send the data out the bulk port
        retval = usb_submit_urb(urb, GFP_KERNEL)
        mutex_unlock(dev.io_mutex)
        if retval:
            dev_err(dev.interface.dev,
                    "%s - failed submitting write urb, error %d\n",
                    "skel_write", retval)
            unanchor = True
            break  # goto error_unanchor

        #
        # release our reference to this urb, the USB core will eventually free
        # it entirely
        #
        usb_free_urb(urb)

        return writesize

    # error_unanchor:
    if unanchor:
        usb_unanchor_urb(urb)
    # error:
    if urb:
        usb_free_coherent(dev.udev, writesize, buf, urb.transfer_dma)
        usb_free_urb(urb)
    up(dev.limit_sem)

    # exit:
    return retval


skel_fops = FileOperations(
    owner=THIS_MODULE,
    read=skel_read,
    write=skel_write,
    open=skel_open,
    release=skel_release,
    flush=skel_flush,
    llseek=noop_llseek,
)

#
# usb class driver info in order to get a minor number from the usb core,
# and to have the device registered with the driver core
#
skel_class = UsbClassDriver(
    name="skel%d",
    fops=skel_fops,
    minor_base=USB_SKEL_MINOR_BASE,
)


def skel_probe(interface, id):
    # declarations: struct usb_skel *dev; int retval;
    bulk_in, bulk_out = [None], [None]  # struct usb_endpoint_descriptor *bulk_in, *bulk_out;

    # allocate memory for our device state and initialize it
    dev = kzalloc(SIZEOF_USB_SKEL, GFP_KERNEL)  # kzalloc(sizeof(*dev), GFP_KERNEL)
    if not dev:
        return -ENOMEM

    dev.kref = kref_init()
    dev.limit_sem = sema_init(WRITES_IN_FLIGHT)
    dev.io_mutex = mutex_init()
    dev.err_lock = spin_lock_init()
    dev.submitted = init_usb_anchor()
    dev.bulk_in_wait = init_waitqueue_head()

    dev.udev = usb_get_dev(interface_to_usbdev(interface))
    dev.interface = usb_get_intf(interface)

    while True:  # the block 'goto error' leaves (break)
        # set up the endpoint information
        # use only the first bulk-in and bulk-out endpoints
        retval = usb_find_common_endpoints(interface.cur_altsetting,
                                           bulk_in, bulk_out, None, None)
        if retval:
            dev_err(interface.dev,
                    "Could not find both bulk-in and bulk-out endpoints\n")
            break  # goto error

        dev.bulk_in_size = usb_endpoint_maxp(bulk_in[0])
        dev.bulk_in_endpointAddr = bulk_in[0].bEndpointAddress
        dev.bulk_in_buffer = kmalloc(dev.bulk_in_size, GFP_KERNEL)
        if not dev.bulk_in_buffer:
            retval = -ENOMEM
            break  # goto error
        dev.bulk_in_urb = usb_alloc_urb(0, GFP_KERNEL)
        if not dev.bulk_in_urb:
            retval = -ENOMEM
            break  # goto error

        dev.bulk_out_endpointAddr = bulk_out[0].bEndpointAddress

        # save our data pointer in this interface device
        usb_set_intfdata(interface, dev)

        # we can register the device now, as it is ready
        retval = usb_register_dev(interface, skel_class)
        if retval:
            # something prevented us from registering this driver
            dev_err(interface.dev,
                    "Not able to get a minor for this device.\n")
            usb_set_intfdata(interface, None)
            break  # goto error

        # let the user know what node this device is now attached to
        dev_info(interface.dev,
                 "USB Skeleton device now attached to USBSkel-%d",
                 interface.minor)
        return 0

    # error:
    # this frees allocated memory
    kref_put(dev.kref, skel_delete)

    return retval


def skel_disconnect(interface):
    # declarations: struct usb_skel *dev;
    minor = interface.minor

    dev = usb_get_intfdata(interface)

    # give back our minor
    usb_deregister_dev(interface, skel_class)

    # prevent more I/O from starting
    mutex_lock(dev.io_mutex)
    dev.disconnected = 1
    mutex_unlock(dev.io_mutex)

    usb_kill_urb(dev.bulk_in_urb)
    usb_kill_anchored_urbs(dev.submitted)

    # decrement our usage count
    kref_put(dev.kref, skel_delete)

    dev_info(interface.dev, "USB Skeleton #%d now disconnected", minor)


def skel_draw_down(dev):
    # declarations: int time;

    time = usb_wait_anchor_empty_timeout(dev.submitted, 1000)
    if not time:
        usb_kill_anchored_urbs(dev.submitted)
    usb_kill_urb(dev.bulk_in_urb)


def skel_suspend(intf, message):
    dev = usb_get_intfdata(intf)

    if not dev:
        return 0
    skel_draw_down(dev)
    return 0


def skel_resume(intf):
    return 0


def skel_pre_reset(intf):
    dev = usb_get_intfdata(intf)

    mutex_lock(dev.io_mutex)
    skel_draw_down(dev)

    return 0


def skel_post_reset(intf):
    dev = usb_get_intfdata(intf)

    # we are sure no URBs are active - no locking needed
    data_race(lambda: setattr(dev, "errors", -EPIPE))  # dev->errors = -EPIPE;
    mutex_unlock(dev.io_mutex)

    return 0


skel_driver = UsbDriver(
    name="skeleton",
    probe=skel_probe,
    disconnect=skel_disconnect,
    suspend=skel_suspend,
    resume=skel_resume,
    pre_reset=skel_pre_reset,
    post_reset=skel_post_reset,
    id_table=skel_table,
    supports_autosuspend=1,
)

module_usb_driver(skel_driver)

MODULE_LICENSE = "GPL v2"
