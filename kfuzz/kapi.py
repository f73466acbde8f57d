"""The module API: every name module code may use (see module-api.md).

Re-exports only; each name lives in the file of its subsystem.
"""

# ruff: noqa: F401, F403
from .kernel.bugs import BUG, BUG_ON, WARN_ON, WARN_ON_ONCE, panic
from .kernel.completion import (
    DECLARE_COMPLETION, Completion, complete, complete_all, completion_done, init_completion,
    reinit_completion, try_wait_for_completion, wait_for_completion, wait_for_completion_interruptible,
    wait_for_completion_interruptible_timeout, wait_for_completion_killable, wait_for_completion_timeout,
)
from .kernel.capability import CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_RAWIO, capable
from .kernel.chrdev import (
    MISC_DYNAMIC_MINOR, MiscDevice, misc_deregister, misc_register, register_chrdev, unregister_chrdev,
)
from .kernel.containerof import container_of, from_timer
from .kernel.device import (
    PCI_ANY_ID, Device, DeviceId, Driver, dev_get_drvdata, dev_set_drvdata, driver_register,
    driver_unregister, pci_device_id, pci_register_driver, pci_unregister_driver,
    platform_device_id, platform_driver_register, platform_driver_unregister, usb_device_id,
)
from .kernel.errno import *
from .kernel.fasync import POLL_ERR, POLL_HUP, POLL_IN, POLL_MSG, POLL_OUT, POLL_PRI, SIGIO, fasync_helper, kill_fasync
from .kernel.ida import (
    DEFINE_IDA, Ida, ida_alloc, ida_alloc_max, ida_alloc_min, ida_alloc_range, ida_destroy, ida_free,
    ida_init, ida_is_empty,
)
from .kernel.fs import (
    FASYNC, FMODE_LSEEK, FMODE_READ, FMODE_WRITE, O_ACCMODE, O_APPEND, O_CREAT, O_EXCL, O_NONBLOCK, O_RDONLY,
    O_RDWR, O_TRUNC, O_WRONLY, File, FileOperations, Inode,
)
from .kernel.ioctl import (
    _IO, _IOC, _IOC_DIR, _IOC_NONE, _IOC_NR, _IOC_READ, _IOC_SIZE, _IOC_TYPE, _IOC_WRITE, _IOR, _IOW, _IOWR,
)
from .kernel.poll import (
    EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLPRI, EPOLLRDHUP, EPOLLRDNORM, EPOLLWRNORM, POLLERR, POLLHUP,
    POLLIN, POLLOUT, POLLPRI, POLLRDHUP, POLLRDNORM, POLLWRNORM, poll_wait,
)
from .kernel.seek import (
    SEEK_CUR, SEEK_DATA, SEEK_END, SEEK_HOLE, SEEK_SET, default_llseek, fixed_size_llseek,
    generic_file_llseek_size, no_llseek, nonseekable_open, noop_llseek, stream_open, vfs_setpos,
)
from .kernel.uaccess import (
    ERR_PTR, IS_ERR, IS_ERR_OR_NULL, PTR_ERR, access_ok, clear_user, copy_from_user, copy_to_user, get_user,
    memdup_user, put_user, simple_read_from_buffer, simple_write_to_buffer, strncpy_from_user,
)
from .kernel.irq import (
    IRQ_HANDLED, IRQ_NONE, IRQ_WAKE_THREAD, IRQF_ONESHOT, IRQF_SHARED, IRQF_TRIGGER_RISING,
    devm_request_irq, free_irq, request_irq, synchronize_irq,
)
from .kernel.kcsan import READ_ONCE, WRITE_ONCE, data_race
from .kernel.loader import EXPORT_SYMBOL, EXPORT_SYMBOL_GPL, import_symbol, module_exit, module_init, module_param
from .kernel.moduledriver import module_driver, module_pci_driver, module_platform_driver
from .kernel.params import byte, charp, uint, ulong, ushort
from .kernel.locking import (
    DEFINE_MUTEX, DEFINE_SPINLOCK, Mutex, SpinLock, irqs_disabled, local_bh_disable, local_bh_enable,
    local_irq_disable, local_irq_enable, local_irq_restore, local_irq_save, might_sleep, msleep,
    msleep_interruptible, mutex_init, mutex_is_locked, mutex_lock, mutex_lock_interruptible,
    mutex_lock_killable, mutex_lock_nested, mutex_trylock, mutex_unlock, schedule_timeout,
    schedule_timeout_interruptible, schedule_timeout_uninterruptible, signal_pending, spin_is_locked,
    spin_lock, spin_lock_bh, spin_lock_init, spin_lock_irq, spin_lock_irqsave, spin_lock_irqsave_nested,
    spin_lock_nested, spin_trylock, spin_unlock, spin_unlock_bh, spin_unlock_irq, spin_unlock_irqrestore,
    ssleep, usleep_range,
)
from .kernel.log import (
    KERN_ALERT, KERN_CONT, KERN_CRIT, KERN_DEBUG, KERN_DEFAULT, KERN_EMERG, KERN_ERR, KERN_INFO, KERN_NOTICE,
    KERN_WARNING, dev_alert, dev_crit, dev_dbg, dev_emerg, dev_err, dev_info, dev_notice, dev_warn, pr_alert,
    pr_crit, pr_debug, pr_emerg, pr_err, pr_info, pr_notice, pr_warn, printk,
)
from .kernel.mm import (
    GFP_ATOMIC, GFP_KERNEL, GFP_NOWAIT, Buffer, devm_kfree, devm_kzalloc, kcalloc, kfree, kmalloc, kvfree,
    kvmalloc, kvzalloc, kzalloc,
)
from .kernel.mm import KMALLOC_MAX_SIZE, __GFP_NOWARN, __GFP_ZERO
from .kernel.pm import (
    NOTIFY_DONE, NOTIFY_OK, PM_HIBERNATION_PREPARE, PM_POST_HIBERNATION, PM_POST_SUSPEND,
    PM_SUSPEND_PREPARE, register_pm_notifier, unregister_pm_notifier,
)
from .kernel.procfs import ProcEntry, proc_create, proc_create_data, proc_remove, remove_proc_entry
from .kernel.refcount import (
    Kref, Refcount, __module_get, kref_get, kref_init, kref_put, kref_read, module_put,
    module_refcount, refcount_dec, refcount_dec_and_test, refcount_inc, refcount_inc_not_zero,
    refcount_read, refcount_set, refcount_t, try_module_get,
)
from .kernel.strdup import kmemdup, kstrdup, kstrndup
from .kernel.semaphore import (
    DEFINE_SEMAPHORE, Semaphore, down, down_interruptible, down_killable, down_timeout, down_trylock,
    sema_init, up,
)
from .kernel.timer import (
    HZ, TIMER_IRQSAFE, Timer, add_timer, del_timer, del_timer_sync, jiffies, jiffies_to_msecs, mod_timer,
    msecs_to_jiffies, timer_delete, timer_delete_sync, timer_pending, timer_setup,
)
from .kernel.urb import (
    GFP_NOIO, PIPE_BULK, PIPE_CONTROL, PIPE_INTERRUPT, PIPE_ISOCHRONOUS, URB_DIR_IN, URB_FREE_BUFFER,
    URB_ISO_ASAP, URB_NO_INTERRUPT, URB_NO_TRANSFER_DMA_MAP, URB_SHORT_NOT_OK, URB_ZERO_PACKET,
    usb_alloc_coherent, usb_alloc_urb, usb_block_urb, usb_fill_bulk_urb, usb_fill_control_urb,
    usb_fill_int_urb, usb_free_coherent, usb_free_urb, usb_get_urb, usb_kill_urb, usb_pipe_endpoint,
    usb_pipeendpoint, usb_pipein, usb_pipeout, usb_pipetype, usb_poison_urb, usb_put_urb, usb_rcvbulkpipe,
    usb_rcvctrlpipe, usb_rcvintpipe, usb_sndbulkpipe, usb_sndctrlpipe, usb_sndintpipe, usb_submit_urb,
    usb_unlink_urb, usb_unpoison_urb, usb_urb_dir_in, usb_urb_dir_out,
)
from .kernel.usb import (
    PM_EVENT_SUSPEND, PMSG_SUSPEND, USB_DEVICE, USB_INTERFACE_BOUND, USB_INTERFACE_UNBOUND, USB_SPEED_HIGH, USB_STATE_CONFIGURED,
    USB_STATE_NOTATTACHED, UsbDevice, UsbDriver, UsbInterface, interface_to_usbdev, module_usb_driver,
    usb_autopm_get_interface, usb_autopm_get_interface_async, usb_autopm_get_interface_no_resume,
    usb_autopm_put_interface, usb_autopm_put_interface_async, usb_autopm_put_interface_no_suspend,
    usb_deregister, usb_get_dev, usb_get_intf, usb_get_intfdata, usb_put_dev, usb_put_intf, usb_register,
    usb_reset_device, usb_set_intfdata,
)
from .kernel.usbanchor import (
    UsbAnchor, init_usb_anchor, usb_anchor_empty, usb_anchor_urb, usb_get_from_anchor,
    usb_kill_anchored_urbs, usb_poison_anchored_urbs, usb_scuttle_anchored_urbs, usb_unanchor_urb,
    usb_unpoison_anchored_urbs, usb_wait_anchor_empty_timeout,
)
from .kernel.usbclass import USB_MAJOR, UsbClassDriver, iminor, usb_deregister_dev, usb_find_interface, usb_register_dev
from .kernel.usbdesc import (
    USB_CLASS_VENDOR_SPEC, USB_DIR_IN, USB_DIR_OUT, USB_DT_ENDPOINT, USB_DT_INTERFACE, USB_ENDPOINT_DIR_MASK,
    USB_ENDPOINT_MAXP_MASK, USB_ENDPOINT_NUMBER_MASK, USB_ENDPOINT_XFER_BULK, USB_ENDPOINT_XFER_CONTROL,
    USB_ENDPOINT_XFER_INT, USB_ENDPOINT_XFER_ISOC, USB_ENDPOINT_XFERTYPE_MASK, UsbEndpointDescriptor,
    UsbHostEndpoint, UsbHostInterface, UsbInterfaceDescriptor, usb_endpoint_dir_in, usb_endpoint_dir_out,
    usb_endpoint_is_bulk_in, usb_endpoint_is_bulk_out, usb_endpoint_is_int_in, usb_endpoint_is_int_out,
    usb_endpoint_is_isoc_in, usb_endpoint_is_isoc_out, usb_endpoint_maxp, usb_endpoint_maxp_mult,
    usb_endpoint_num, usb_endpoint_type, usb_endpoint_xfer_bulk, usb_endpoint_xfer_control,
    usb_endpoint_xfer_int, usb_endpoint_xfer_isoc, usb_find_bulk_in_endpoint, usb_find_bulk_out_endpoint,
    usb_find_common_endpoints, usb_find_common_endpoints_reverse, usb_find_int_in_endpoint,
    usb_find_int_out_endpoint, usb_find_last_bulk_in_endpoint, usb_find_last_int_in_endpoint,
    usb_find_last_int_out_endpoint,
)
from .kernel.usbmsg import usb_bulk_msg, usb_control_msg, usb_interrupt_msg, usb_string
from .kernel.waitqueue import (
    DECLARE_WAIT_QUEUE_HEAD, DEFINE_WAIT, TASK_INTERRUPTIBLE, TASK_UNINTERRUPTIBLE, WaitQueueHead, finish_wait,
    init_waitqueue_head, prepare_to_wait, wait_event, wait_event_interruptible,
    wait_event_interruptible_timeout, wait_event_timeout, waitqueue_active, wake_up, wake_up_all,
    wake_up_interruptible, wake_up_interruptible_all,
)
from .kernel.workqueue import (
    INIT_DELAYED_WORK, INIT_WORK, WQ_MEM_RECLAIM, DelayedWork, Work, Workqueue, alloc_workqueue,
    cancel_delayed_work, cancel_delayed_work_sync, cancel_work, cancel_work_sync,
    create_singlethread_workqueue, destroy_workqueue, flush_scheduled_work, flush_work,
    flush_workqueue, queue_delayed_work, queue_work, schedule_delayed_work, schedule_work,
)

# names only (pytest's assertion rewriting adds `@py_builtins` to a module's namespace)
__all__ = [n for n in dir() if n.isidentifier()
           and (not n.startswith("__") or n in ("__module_get", "__GFP_NOWARN", "__GFP_ZERO"))]
