"""yurexdisc: yurex.py (Linux's drivers/usb/misc/yurex.c, v6.17-rc4) with its
disconnect as it was before commit aafb00a977cf "USB: yurex: fix NULL-derefs on
disconnect" (Johan Hovold, October 2019, Linux 5.4 and the stable trees).

The same line-by-line port as target_modules/yurex.py (see its docstring for how
the port reads), with that one fix reverted and nothing else changed or added (but
the destructor's dev_dbg written lazily, see the end of this docstring). The
lines that race are those of Linux 3.5 to 5.3: yurex_write's dev_err through
dev->interface came with 45714104b9e8 ("USB: yurex.c: remove err() usage", 3.5),
and the interrupt URB poisoned first in disconnect with ef61eb43ada6 ("USB: yurex:
Fix protection fault after device removal", Alan Stern, 2019; syzbot's report on the
interrupt handler, CVE-2019-15216), which this twin keeps. Before the fix:

- disconnect cleared dev->interface under io_mutex, the driver's inverted
  "disconnected" flag, instead of setting dev->disconnected; it poisoned only the
  interrupt URB, not the control URB;
- read and write tested `if (!dev->interface)` for "already disconnected";
- probe stored the interface without usb_get_intf, and yurex_delete did not put it.

Later changes of the file are kept as yurex.py has them (the read bounded by its
count, the control URB killed after the wait in write, bbu under the spinlock...);
none of them touches the lines that race.

BUG (oops, a race): yurex_write tests dev->interface under io_mutex, drops the
mutex, and on a failed submit logs through it:

    mutex_unlock(&dev->io_mutex);

    if (retval < 0) {
            dev_err(&dev->interface->dev,
                    "%s - failed to send bulk msg, error %d\n", __func__, retval);

The fix's message: the driver "was setting it to NULL without making sure all code
paths that used it were done with it ... there are further accesses in dev_err and
dev_dbg statements in yurex_write() and the driver-data destructor". When the
device is unplugged the hub marks it USB_STATE_NOTATTACHED before the driver's
disconnect runs, so a write that gets io_mutex while disconnect is on its way to it
has its control URB refused (usb_submit_urb: -ENODEV); disconnect then takes the
mutex the write just dropped and sets dev->interface to NULL before the write's
dev_err reads it:

    together
      t1: write fd0 "A"
      t2: unplug dev0
    schedule: t1 at copy_from_user -> t2, t1 at mutex_unlock -> t2

t1 (yurex_write) holds io_mutex and is preempted at copy_from_user; t2 (the unplug)
marks the device gone and runs yurex_disconnect up to mutex_lock(&dev->io_mutex),
where it sleeps; t1 finds its control URB refused (-ENODEV), does not wait, kills
the URB and is preempted at mutex_unlock, the mutex now t2's; t2 clears
dev->interface and ends (the open file keeps dev); t1's dev_err dereferences NULL.
Expected: "BUG: kernel NULL pointer dereference in yurex_write" (kind oops), after
KCSAN's "data-race in yurex_disconnect / yurex_write" on dev->interface in the log.
Each serial order is clean: unplugged first, the write is -ENODEV; written first, it
waits for the device's ACK (-EIO after two seconds without one) and the
unplug finds nothing in flight. yurex.py, fixed, survives the schedule: its control
URB is poisoned, dev->interface stays, and the dev_err prints.

Without the second preemption the write reads dev->interface before disconnect
clears it: nothing crashes, and kfuzz reports the same race as KCSAN's "KCSAN:
data-race in yurex_disconnect / yurex_write" (kind data-race; `t1 at
copy_from_user -> t2` alone). On SMP Linux the second preemption is no more than
disconnect, woken by the unlock, running on another CPU. A plain `kfuzz fuzz`
meets this one-preemption form; the crash needs two preemptions at the right
points, which it draws about 25 times less often (tests/planted.py).

The destructor's dev_dbg(&dev->interface->dev, ...) meets the same NULL whenever
the file is closed after the unplug, but dev_dbg evaluates its device only with
dynamic debug on for the site (the fix's "(sic!)"): the port writes it with a lambda,
which kfuzz's dev_dbg calls only then, so it oopses with `# kernel: dyndbg=1` and is
silent without, as Linux is.
"""
from kfuzz.kapi import *

# #include <linux/kernel.h>, errno.h, slab.h, module.h, kref.h, mutex.h, uaccess.h,
# usb.h, hid.h: no counterpart, `from kfuzz.kapi import *` is every header

DRIVER_AUTHOR = "Tomoki Sekiyama"
DRIVER_DESC = "Driver for Meywa-Denki & KAYAC YUREX"

YUREX_VENDOR_ID = 0x0C45
YUREX_PRODUCT_ID = 0x1010

CMD_ACK = ord("!")
CMD_ANIMATE = ord("A")
CMD_COUNT = ord("C")
CMD_LED = ord("L")
CMD_READ = ord("R")
CMD_SET = ord("S")
CMD_VERSION = ord("V")
CMD_EOF = 0x0D
CMD_PADDING = 0xFF

YUREX_BUF_SIZE = 8
YUREX_WRITE_TIMEOUT = HZ * 2

# Constants of the headers yurex.c includes that kfuzz.kapi does not export:
USB_TYPE_CLASS = 0x01 << 5   # include/uapi/linux/usb/ch9.h
USB_RECIP_INTERFACE = 0x01   # include/uapi/linux/usb/ch9.h
HID_REQ_SET_REPORT = 0x09    # include/linux/hid.h
HID_OUTPUT_REPORT = 1        # include/linux/hid.h enum hid_report_type
ULLONG_MAX = (1 << 64) - 1   # unsigned long long arithmetic wraps at 64 bits

# table of devices that work with this driver
# (depmod reads MODULE_DEVICE_TABLE from the file without running it, so its ids
# are written as literals: YUREX_VENDOR_ID, YUREX_PRODUCT_ID)
MODULE_DEVICE_TABLE = [USB_DEVICE(0x0C45, 0x1010)]
yurex_table = MODULE_DEVICE_TABLE
# { } /* Terminating entry */: no counterpart, a Python list knows its length
# MODULE_DEVICE_TABLE(usb, yurex_table): the assignment above is it

# #ifdef CONFIG_USB_DYNAMIC_MINORS ... YUREX_MINOR_BASE 0: kfuzz's usb core has
# CONFIG_USB_DYNAMIC_MINORS off (kfuzz/kernel/usbclass.py), so the #else branch:
YUREX_MINOR_BASE = 192

# Structure to hold all of our device specific stuff: struct usb_yurex, a
# kzalloc'd buffer whose fields are
#   udev                 struct usb_device *
#   interface            struct usb_interface *
#   int_in_endpointAddr  __u8
#   urb                  struct urb *            URB for interrupt in
#   int_buffer           unsigned char *         buffer for intterupt in
#   cntl_urb             struct urb *            URB for control msg
#   cntl_req             struct usb_ctrlrequest *  req for control msg
#   cntl_buffer          unsigned char *         buffer for control msg
#   kref                 struct kref
#   io_mutex             struct mutex
#   async_queue          struct fasync_struct *  (kfuzz: the list head, a one-item list)
#   waitq                wait_queue_head_t
#   lock                 spinlock_t
#   bbu                  __s64                   BBU from device
SIZEOF_USB_YUREX = 192  # sizeof(struct usb_yurex) on x86_64, near enough


def to_yurex_dev(d):
    return container_of(d, "struct usb_yurex", "kref")


# static struct usb_driver yurex_driver; static const struct file_operations
# yurex_fops;: no counterpart, Python looks names up when the code runs


def snprintf(buf, size, fmt, *args):
    """lib/vsprintf.c snprintf for this file's one format, "%lld\\n" (kfuzz.kapi has
    no snprintf): at most size - 1 characters and a NUL into buf; the length the
    whole output has, as C's returns."""
    text = (fmt.replace("%lld", "%d") % args).encode()
    if size > 0:
        n = min(len(text), size - 1)
        buf[0:n] = text[:n]
        buf[n] = 0
    return len(text)


def simple_strtoull(cp, endp, base):
    """lib/vsprintf.c simple_strtoull (kfuzz.kapi has none): _parse_integer_fixup_radix,
    then the digits of `base` up to the first other character of the NUL-terminated
    string cp; the value wraps at 64 bits, as unsigned long long does."""
    s = bytes(cp).split(b"\0", 1)[0]
    lower = s.lower()
    if base == 0:
        if lower[:1] == b"0":
            if lower[1:2] == b"x" and lower[2:3] != b"" and lower[2:3] in b"0123456789abcdef":
                base = 16
            else:
                base = 8
        else:
            base = 10
    i = 2 if base == 16 and lower[:2] == b"0x" else 0
    result = 0
    while i < len(lower):
        ch = lower[i]
        if ord("0") <= ch <= ord("9"):
            val = ch - ord("0")
        elif ord("a") <= ch <= ord("f"):
            val = ch - ord("a") + 10
        else:
            break
        if val >= base:
            break
        result = (result * base + val) & ULLONG_MAX
        i += 1
    if endp is not None:
        endp[0] = i
    return result


def yurex_control_callback(urb):
    dev = urb.context
    status = urb.status

    if status:
        dev_err(urb.dev.dev, "%s - control failed: %d\n", "yurex_control_callback", status)
        wake_up_interruptible(dev.waitq)
        return
    # on success, sender woken up by CMD_ACK int in, or timeout


def yurex_delete(kref):
    dev = to_yurex_dev(kref)

    # dev_dbg(&dev->interface->dev, ...): after a disconnect dev->interface is NULL
    # here; C computes &NULL->dev without a load, and dev_dbg evaluates its arguments
    # only with its call site on (include/linux/dynamic_debug.h). The lambda is that
    # laziness: dynamic debug on, this is the NULL dereference the fix's "(sic!)" names
    dev_dbg(lambda: dev.interface.dev, "%s\n", "yurex_delete")

    if dev.cntl_urb:
        usb_kill_urb(dev.cntl_urb)
        kfree(dev.cntl_req)
        usb_free_coherent(dev.udev, YUREX_BUF_SIZE, dev.cntl_buffer, dev.cntl_urb.transfer_dma)
        usb_free_urb(dev.cntl_urb)
    if dev.urb:
        usb_kill_urb(dev.urb)
        usb_free_coherent(dev.udev, YUREX_BUF_SIZE, dev.int_buffer, dev.urb.transfer_dma)
        usb_free_urb(dev.urb)
    usb_put_dev(dev.udev)
    kfree(dev)


# usb class driver info in order to get a minor number from the usb core, and to
# have the device registered with the driver core: yurex_class is defined below,
# after yurex_fops (a Python object cannot name one not made yet)


def yurex_interrupt(urb):
    dev = urb.context
    buf = dev.int_buffer
    status = urb.status

    if status == 0:  # success
        pass
    # The device is terminated or messed up, give up
    elif status == -EOVERFLOW:
        dev_err(dev.interface.dev, "%s - overflow with length %d, actual length is %d\n",
                "yurex_interrupt", YUREX_BUF_SIZE, dev.urb.actual_length)
        return
    elif status in (-ECONNRESET, -ENOENT, -ESHUTDOWN, -EILSEQ, -EPROTO, -ETIME):
        return
    else:
        dev_err(dev.interface.dev, "%s - unknown status received: %d\n", "yurex_interrupt", status)
        return

    # handle received message
    if buf[0] in (CMD_COUNT, CMD_READ):
        if buf[6] == CMD_EOF:
            flags = spin_lock_irqsave(dev.lock)
            dev.bbu = 0
            for i in range(1, 6):
                dev.bbu += buf[i]
                if i != 5:
                    dev.bbu <<= 8
            dev_dbg(dev.interface.dev, "%s count: %lld\n", "yurex_interrupt", dev.bbu)
            spin_unlock_irqrestore(dev.lock, flags)

            kill_fasync(dev.async_queue, SIGIO, POLL_IN)
        else:
            dev_dbg(dev.interface.dev, "data format error - no EOF\n")
    elif buf[0] == CMD_ACK:
        dev_dbg(dev.interface.dev, "%s ack: %c\n", "yurex_interrupt", buf[1])
        wake_up_interruptible(dev.waitq)

    retval = usb_submit_urb(dev.urb, GFP_ATOMIC)
    if retval:
        dev_err(dev.interface.dev, "%s - usb_submit_urb failed: %d\n", "yurex_interrupt", retval)


def yurex_probe(interface, id):
    retval = -ENOMEM
    # DEFINE_WAIT(wait);: no counterpart, yurex_probe never uses it (an unused local in Linux)

    # allocate memory for our device state and initialize it
    dev = kzalloc(SIZEOF_USB_YUREX, GFP_KERNEL)
    if not dev:
        return yurex_probe_error(dev, retval)
    dev.kref = kref_init()
    dev.io_mutex = mutex_init()
    dev.lock = spin_lock_init()
    dev.waitq = init_waitqueue_head()
    # async_queue: kzalloc left the struct fasync_struct * NULL; kfuzz's list head is
    # a one-item list holding it (fasync_helper and kill_fasync take the list)
    dev.async_queue = [None]

    dev.udev = usb_get_dev(interface_to_usbdev(interface))
    dev.interface = interface

    # set up the endpoint information
    iface_desc = interface.cur_altsetting
    endpoint = [None]
    res = usb_find_int_in_endpoint(iface_desc, endpoint)
    if res:
        dev_err(interface.dev, "Could not find endpoints\n")
        retval = res
        return yurex_probe_error(dev, retval)

    dev.int_in_endpointAddr = endpoint[0].bEndpointAddress

    # allocate control URB
    dev.cntl_urb = usb_alloc_urb(0, GFP_KERNEL)
    if not dev.cntl_urb:
        return yurex_probe_error(dev, retval)

    # allocate buffer for control req
    dev.cntl_req = kmalloc(YUREX_BUF_SIZE, GFP_KERNEL)
    if not dev.cntl_req:
        return yurex_probe_error(dev, retval)

    # allocate buffer for control msg
    transfer_dma = [0]  # &dev->cntl_urb->transfer_dma: the out-parameter, stored below
    dev.cntl_buffer = usb_alloc_coherent(dev.udev, YUREX_BUF_SIZE, GFP_KERNEL, transfer_dma)
    dev.cntl_urb.transfer_dma = transfer_dma[0]
    if not dev.cntl_buffer:
        dev_err(interface.dev, "Could not allocate cntl_buffer\n")
        return yurex_probe_error(dev, retval)

    # configure control URB
    # (cpu_to_le16: no counterpart, the setup packet's fields are numbers the kfuzz
    # core reads as such; a little-endian CPU leaves them as they are)
    dev.cntl_req.bRequestType = USB_DIR_OUT | USB_TYPE_CLASS | USB_RECIP_INTERFACE
    dev.cntl_req.bRequest = HID_REQ_SET_REPORT
    dev.cntl_req.wValue = (HID_OUTPUT_REPORT + 1) << 8
    dev.cntl_req.wIndex = iface_desc.desc.bInterfaceNumber
    dev.cntl_req.wLength = YUREX_BUF_SIZE

    usb_fill_control_urb(dev.cntl_urb, dev.udev, usb_sndctrlpipe(dev.udev, 0), dev.cntl_req,
                         dev.cntl_buffer, YUREX_BUF_SIZE, yurex_control_callback, dev)
    dev.cntl_urb.transfer_flags |= URB_NO_TRANSFER_DMA_MAP

    # allocate interrupt URB
    dev.urb = usb_alloc_urb(0, GFP_KERNEL)
    if not dev.urb:
        return yurex_probe_error(dev, retval)

    # allocate buffer for interrupt in
    transfer_dma = [0]  # &dev->urb->transfer_dma
    dev.int_buffer = usb_alloc_coherent(dev.udev, YUREX_BUF_SIZE, GFP_KERNEL, transfer_dma)
    dev.urb.transfer_dma = transfer_dma[0]
    if not dev.int_buffer:
        dev_err(interface.dev, "Could not allocate int_buffer\n")
        return yurex_probe_error(dev, retval)

    # configure interrupt URB
    usb_fill_int_urb(dev.urb, dev.udev, usb_rcvintpipe(dev.udev, dev.int_in_endpointAddr),
                     dev.int_buffer, YUREX_BUF_SIZE, yurex_interrupt, dev, 1)
    dev.urb.transfer_flags |= URB_NO_TRANSFER_DMA_MAP
    if usb_submit_urb(dev.urb, GFP_KERNEL):
        retval = -EIO
        dev_err(interface.dev, "Could not submitting URB\n")
        return yurex_probe_error(dev, retval)

    # save our data pointer in this interface device
    usb_set_intfdata(interface, dev)
    dev.bbu = -1

    # we can register the device now, as it is ready
    retval = usb_register_dev(interface, yurex_class)
    if retval:
        dev_err(interface.dev, "Not able to get a minor for this device.\n")
        usb_set_intfdata(interface, None)
        return yurex_probe_error(dev, retval)

    dev_info(interface.dev, "USB YUREX device now attached to Yurex #%d\n", interface.minor)

    return 0


def yurex_probe_error(dev, retval):
    """yurex_probe's `error:` label (Python has no goto): every `goto error` of the
    probe returns through it."""
    if dev:
        # this frees allocated memory
        kref_put(dev.kref, yurex_delete)
    return retval


def yurex_disconnect(interface):
    minor = interface.minor

    dev = usb_get_intfdata(interface)
    usb_set_intfdata(interface, None)

    # give back our minor
    usb_deregister_dev(interface, yurex_class)

    # prevent more I/O from starting
    usb_poison_urb(dev.urb)
    mutex_lock(dev.io_mutex)
    dev.interface = None
    mutex_unlock(dev.io_mutex)

    # wakeup waiters
    kill_fasync(dev.async_queue, SIGIO, POLL_IN)
    wake_up_interruptible(dev.waitq)

    # decrement our usage count
    kref_put(dev.kref, yurex_delete)

    dev_info(interface.dev, "USB YUREX #%d now disconnected\n", minor)


yurex_driver = UsbDriver(name="yurex", probe=yurex_probe, disconnect=yurex_disconnect,
                         id_table=yurex_table)


def yurex_fasync(fd, file, on):
    dev = file.private_data
    return fasync_helper(fd, file, on, dev.async_queue)


def yurex_open(inode, file):
    retval = 0

    subminor = iminor(inode)

    interface = usb_find_interface(yurex_driver, subminor)
    if not interface:
        printk(KERN_ERR + "%s - error, can't find device for minor %d", "yurex_open", subminor)
        retval = -ENODEV
        return retval  # goto exit

    dev = usb_get_intfdata(interface)
    if not dev:
        retval = -ENODEV
        return retval  # goto exit

    # increment our usage count for the device
    kref_get(dev.kref)

    # save our object in the file's private structure
    mutex_lock(dev.io_mutex)
    file.private_data = dev
    mutex_unlock(dev.io_mutex)

    # exit:
    return retval


def yurex_release(inode, file):
    dev = file.private_data
    if dev is None:
        return -ENODEV

    # decrement the count on our device
    kref_put(dev.kref, yurex_delete)
    return 0


def yurex_read(file, buffer, count, ppos):
    len_ = 0  # int len (renamed: Python's len() is used below)
    in_buffer = bytearray(20)  # char in_buffer[20]

    dev = file.private_data

    mutex_lock(dev.io_mutex)
    if not dev.interface:  # already disconnected
        mutex_unlock(dev.io_mutex)
        return -ENODEV

    flags = spin_lock_irqsave(dev.lock)
    len_ = snprintf(in_buffer, 20, "%lld\n", dev.bbu)
    spin_unlock_irqrestore(dev.lock, flags)
    mutex_unlock(dev.io_mutex)

    if WARN_ON_ONCE(len_ >= len(in_buffer)):  # sizeof(in_buffer)
        return -EIO

    return simple_read_from_buffer(buffer, count, ppos, in_buffer, len_)


def yurex_write(file, user_buffer, count, ppos):
    set = 0
    retval = 0
    buffer = bytearray(16 + 1)  # char buffer[16 + 1]
    data = memoryview(buffer)   # char *data = buffer
    c2 = 0
    timeout = 0
    wait = DEFINE_WAIT()

    count = min(len(buffer) - 1, count)  # sizeof(buffer) - 1
    dev = file.private_data

    # verify that we actually have some data to write
    if count == 0:
        return retval  # goto error

    retval = mutex_lock_interruptible(dev.io_mutex)
    if retval < 0:
        return -EINTR

    if not dev.interface:  # already disconnected
        mutex_unlock(dev.io_mutex)
        retval = -ENODEV
        return retval  # goto error

    if copy_from_user(buffer, user_buffer, count):
        mutex_unlock(dev.io_mutex)
        retval = -EFAULT
        return retval  # goto error
    buffer[count] = 0
    dev.cntl_buffer[0:YUREX_BUF_SIZE] = bytes([CMD_PADDING]) * YUREX_BUF_SIZE  # memset

    if buffer[0] in (CMD_ANIMATE, CMD_LED):
        dev.cntl_buffer[0] = buffer[0]
        dev.cntl_buffer[1] = buffer[1]
        dev.cntl_buffer[2] = CMD_EOF
    elif buffer[0] in (CMD_READ, CMD_VERSION):
        dev.cntl_buffer[0] = buffer[0]
        dev.cntl_buffer[1] = 0x00
        dev.cntl_buffer[2] = CMD_EOF
    elif buffer[0] == CMD_SET or ord("0") <= buffer[0] <= ord("9"):
        if buffer[0] == CMD_SET:
            data = data[1:]  # data++; fallthrough
        set = 1
        c = c2 = simple_strtoull(data, None, 0)
        dev.cntl_buffer[0] = CMD_SET
        for i in range(1, 6):
            dev.cntl_buffer[i] = (c >> 32) & 0xFF
            c = (c << 8) & ULLONG_MAX
        buffer[6] = CMD_EOF  # Linux's own line: the local buffer, not cntl_buffer
    else:
        mutex_unlock(dev.io_mutex)
        return -EINVAL

    # send the data as the control msg
    prepare_to_wait(dev.waitq, wait, TASK_INTERRUPTIBLE)
    dev_dbg(dev.interface.dev, "%s - submit %c\n", "yurex_write", dev.cntl_buffer[0])
    retval = usb_submit_urb(dev.cntl_urb, GFP_ATOMIC)
    if retval >= 0:
        timeout = schedule_timeout(YUREX_WRITE_TIMEOUT)
    finish_wait(dev.waitq, wait)

    # make sure URB is idle after timeout or (spurious) CMD_ACK
    usb_kill_urb(dev.cntl_urb)

    mutex_unlock(dev.io_mutex)

    if retval < 0:
        dev_err(dev.interface.dev, "%s - failed to send bulk msg, error %d\n", "yurex_write", retval)
        return retval  # goto error
    if set and timeout:
        spin_lock_irq(dev.lock)
        dev.bbu = c2 - (1 << 64) if c2 >> 63 else c2  # the __s64 of an unsigned long long
        spin_unlock_irq(dev.lock)
    return count if timeout else -EIO

    # error: return retval; (each goto above returns retval where it is)


yurex_fops = FileOperations(owner=THIS_MODULE, read=yurex_read, write=yurex_write, open=yurex_open,
                            release=yurex_release, fasync=yurex_fasync, llseek=default_llseek)

# (from above yurex_interrupt in the C file)
yurex_class = UsbClassDriver(name="yurex%d", fops=yurex_fops, minor_base=YUREX_MINOR_BASE)

module_usb_driver(yurex_driver)

MODULE_DESCRIPTION = "USB YUREX driver support"
MODULE_LICENSE = "GPL"
