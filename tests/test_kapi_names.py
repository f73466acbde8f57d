"""Every Linux name the tasks issue (its blocking part) and the driver-API issue list
is in kfuzz.kapi: a port reaches for these first. A C struct a driver fills in is a
class named in Python's way (`struct usb_driver` is `UsbDriver`, as `struct
file_operations` is `FileOperations`)."""

from __future__ import annotations

import pytest

import kfuzz.kapi as kapi

SLEEPING = """
mutex_lock mutex_lock_interruptible mutex_lock_killable msleep schedule_timeout usleep_range
init_waitqueue_head DECLARE_WAIT_QUEUE_HEAD wait_event wait_event_interruptible wait_event_timeout
wait_event_interruptible_timeout wake_up wake_up_interruptible wake_up_all init_completion
reinit_completion complete complete_all wait_for_completion wait_for_completion_timeout
wait_for_completion_interruptible sema_init down down_interruptible down_trylock up del_timer_sync
cancel_work_sync flush_work free_irq synchronize_irq O_NONBLOCK O_RDONLY O_WRONLY O_RDWR O_EXCL
"""

USER_MEMORY = """
copy_to_user copy_from_user get_user put_user memdup_user strncpy_from_user simple_read_from_buffer
simple_write_to_buffer _IO _IOR _IOW _IOWR _IOC_SIZE _IOC_DIR
"""

USB = """
UsbDevice UsbInterface UsbDriver interface_to_usbdev usb_get_dev usb_put_dev usb_get_intf
usb_put_intf usb_set_intfdata usb_get_intfdata usb_find_common_endpoints usb_find_int_in_endpoint
usb_endpoint_maxp module_usb_driver usb_alloc_urb usb_free_urb usb_fill_bulk_urb usb_fill_int_urb
usb_fill_control_urb usb_sndbulkpipe usb_rcvbulkpipe usb_rcvintpipe usb_sndctrlpipe usb_rcvctrlpipe
usb_submit_urb usb_kill_urb usb_poison_urb init_usb_anchor usb_anchor_urb usb_unanchor_urb
usb_kill_anchored_urbs usb_wait_anchor_empty_timeout usb_alloc_coherent usb_free_coherent usb_bulk_msg
usb_control_msg usb_autopm_get_interface usb_autopm_put_interface USB_DEVICE usb_register_dev
usb_deregister_dev UsbClassDriver usb_find_interface iminor
"""

STRUCT_FILE = """
noop_llseek default_llseek generic_file_llseek_size fixed_size_llseek poll_wait fasync_helper kill_fasync
FMODE_READ FMODE_WRITE
"""

SMALL = """
pr_crit pr_emerg pr_notice pr_debug dev_dbg dev_err dev_warn dev_info container_of
module_platform_driver module_pci_driver MISC_DYNAMIC_MINOR ida_alloc ida_free kstrdup capable
CAP_SYS_ADMIN kfree kvfree devm_kfree EPIPE ERESTARTSYS ECONNRESET ESHUTDOWN EPROTO EILSEQ ETIME
"""

NAMES = sorted({n for block in (SLEEPING, USER_MEMORY, USB, STRUCT_FILE, SMALL) for n in block.split()})


@pytest.mark.parametrize("name", NAMES)
def test_the_linux_name_is_in_kapi(name: str) -> None:
    assert name in kapi.__all__, f"kfuzz.kapi has no {name}"


def test_about_a_hundred_names_are_checked() -> None:
    assert len(NAMES) >= 100
