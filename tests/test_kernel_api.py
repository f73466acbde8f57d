"""The contract itself: every name of module-api.md is in kfuzz.kapi; errno values.

What each name does is tested in the file of its subsystem; this file checks
that the page and the package list the same names.
"""

import errno

import pytest

import kfuzz.kapi as kapi

# Every name module-api.md gives to module code, in the order of the page.
SPEC_NAMES = """
    module_param import_symbol EXPORT_SYMBOL EXPORT_SYMBOL_GPL module_init module_exit
    pci_device_id usb_device_id platform_device_id
    kmalloc kzalloc kfree devm_kzalloc GFP_KERNEL GFP_ATOMIC
    FileOperations register_chrdev unregister_chrdev MiscDevice misc_register misc_deregister
    Driver driver_register driver_unregister dev_set_drvdata dev_get_drvdata
    request_irq free_irq devm_request_irq IRQF_SHARED IRQ_HANDLED IRQ_NONE
    timer_setup Timer mod_timer jiffies msecs_to_jiffies del_timer del_timer_sync timer_pending
    INIT_WORK INIT_DELAYED_WORK Work DelayedWork schedule_work schedule_delayed_work
    alloc_workqueue queue_work flush_workqueue destroy_workqueue
    cancel_work_sync cancel_delayed_work_sync flush_work
    proc_create remove_proc_entry proc_remove register_pm_notifier unregister_pm_notifier
    PM_SUSPEND_PREPARE PM_POST_SUSPEND
    spin_lock_init SpinLock spin_lock spin_unlock spin_lock_irqsave spin_unlock_irqrestore
    mutex_init Mutex mutex_lock mutex_unlock mutex_trylock might_sleep msleep
    try_module_get __module_get module_put
    refcount_t refcount_inc refcount_dec_and_test refcount_read kref_init Kref kref_get kref_put
    printk pr_info pr_warn pr_err pr_debug dev_info dev_err WARN_ON BUG_ON BUG panic
""".split()

SPEC_ERRNOS = """
    ENOMEM EINVAL EBUSY ENODEV EFAULT ENOENT EEXIST EPERM ENOTTY EAGAIN EIO ENXIO EKEYREJECTED
""".split()


def test_star_import_gives_module_code_every_name_of_the_page():
    namespace = {}
    exec("from kfuzz.kapi import *", namespace)
    missing = [n for n in SPEC_NAMES + SPEC_ERRNOS if n not in namespace]
    assert missing == []


@pytest.mark.parametrize("name", SPEC_ERRNOS)
def test_errno_constants_have_pythons_values(name):
    assert getattr(kapi, name) == getattr(errno, name)


def test_every_errno_kapi_shares_with_python_has_its_value():
    shared = [n for n in dir(kapi) if n.startswith("E") and isinstance(getattr(kapi, n), int)
              and hasattr(errno, n)]
    assert len(shared) >= len(SPEC_ERRNOS)
    assert {n: getattr(kapi, n) for n in shared} == {n: getattr(errno, n) for n in shared}


def test_flags_and_events_are_distinct():
    assert kapi.IRQ_HANDLED != kapi.IRQ_NONE
    assert kapi.PM_SUSPEND_PREPARE != kapi.PM_POST_SUSPEND
    assert kapi.GFP_KERNEL & kapi.GFP_ATOMIC == 0


def test_kapi_calls_outside_a_running_kernel_say_so():
    with pytest.raises(RuntimeError, match="outside a running kernel"):
        kapi.kmalloc(8)
