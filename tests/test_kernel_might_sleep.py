"""might_sleep in every call that may sleep in Linux (kernel/sched/core.c __might_sleep).

Registrations, workqueue calls and waits for work, called under a spinlock, in an IRQ
handler or in a timer callback, are "sleeping function called from invalid context"
at that call; the same calls in process context with no spinlock held are clean.
"""

import pytest

SLEPT = "BUG: sleeping function called from invalid context in {}"

BODY = """
    lock = spin_lock_init()
    fops = FileOperations(owner=THIS_MODULE)
    misc = MiscDevice(name="ms_extra", fops=fops)
    drv = Driver(name="ms_drv", bus="pci", id_table=[pci_device_id(0x1AF4, 0x77)])
    majors = []


    def ms_nop_irq(irq, dev_id):
        return IRQ_HANDLED


    def ms_nop_work(w):
        pass


    work = INIT_WORK(ms_nop_work)
    wq = alloc_workqueue("ms_wq")


    def ms_call(which):
        if which == "request_irq":
            request_irq(77, ms_nop_irq, IRQF_SHARED, "ms", "ms")
        if which == "misc_register":
            misc_register(misc)
        if which == "misc_deregister":
            misc_deregister(misc)
        if which == "register_chrdev":
            majors.append(register_chrdev(0, "ms_chr", fops))
        if which == "proc_create":
            proc_create("ms_proc", 0o444, fops)
        if which == "driver_register":
            driver_register(drv)
        if which == "alloc_workqueue":
            alloc_workqueue("ms_other")
        if which == "cancel_work_sync":
            cancel_work_sync(work)
        if which == "flush_work":
            flush_work(work)
        if which == "flush_workqueue":
            flush_workqueue(wq)
        if which == "destroy_workqueue":
            destroy_workqueue(wq)
        if which == "free_irq":
            free_irq(77, "ms")
        if which == "unregister_chrdev":
            unregister_chrdev(majors[-1] if majors else 0, "ms_chr")
        if which == "driver_unregister":
            driver_unregister(drv)
        if which == "remove_proc_entry":
            remove_proc_entry("ms_proc")


    def ms_ioctl(file, cmd, arg):
        which = CALLS[cmd]
        if arg == 1:  # under a spinlock
            spin_lock(lock)
            ms_call(which)
            spin_unlock(lock)
        else:  # process context, nothing held
            ms_call(which)
        return 0


    def ms_irq(irq, dev_id):
        ms_call(CALLS[dev_id])
        return IRQ_HANDLED


    def ms_timer_fn(t):
        ms_call(CALLS[t.data])


    timer = timer_setup(ms_timer_fn)
"""

CALLS = ["request_irq", "misc_register", "misc_deregister", "register_chrdev", "proc_create",
         "driver_register", "alloc_workqueue", "cancel_work_sync", "flush_work",
         "flush_workqueue", "destroy_workqueue",
         # the undoing calls: free_irq takes desc->request_mutex (kernel/irq/manage.c
         # __free_irq), unregister_chrdev chrdevs_lock (fs/char_dev.c), driver_unregister
         # device locks (drivers/base/driver.c, dd.c), remove_proc_entry waits for calls in
         # flight (fs/proc/generic.c, proc_entry_rundown)
         "free_irq", "unregister_chrdev", "driver_unregister", "remove_proc_entry"]

# what each undoing call needs done first, to get as far as its sleep
UNDOES = {"misc_deregister": "misc_register", "free_irq": "request_irq",
          "unregister_chrdev": "register_chrdev", "driver_unregister": "driver_register",
          "remove_proc_entry": "proc_create"}


def boot(lab):
    lab.device("ms", f"\n    CALLS = {CALLS!r}\n" + BODY)
    k = lab.boot()
    assert lab.insmod("ms") == 0, lab.dmesg()
    return k


def prepare(lab, which):
    """An undoing call needs something registered to get as far as its mutex."""
    if which in UNDOES:
        lab.ioctl("ms", CALLS.index(UNDOES[which]))
        assert lab.kernel.findings == []


@pytest.mark.parametrize("which", CALLS)
def test_sleeping_call_under_a_spinlock_is_atomic_sleep(lab, which):
    boot(lab)
    prepare(lab, which)
    lab.ioctl("ms", CALLS.index(which), 1)
    f = lab.finding()
    assert (f.kind, f.title) == ("atomic-sleep", SLEPT.format("ms_call"))
    assert "(spinlock held)" in f.message and f"{which}() may sleep" in f.message
    assert "in_atomic(): 1" in f.message


@pytest.mark.parametrize("which", CALLS)
def test_sleeping_call_in_an_irq_handler_is_atomic_sleep(lab, which):
    k = boot(lab)
    prepare(lab, which)
    lab.ioctl("ms", CALLS.index("request_irq"))
    k.irqs.lines[77][0].dev_id = CALLS.index(which)
    k.irqs.lines[77][0].handler = lab.ns("ms")["ms_irq"]
    k.do("irq", 77)
    f = lab.finding()
    assert (f.kind, f.title) == ("atomic-sleep", SLEPT.format("ms_call"))
    assert "(hard-IRQ)" in f.message and "irqs_disabled(): 1" in f.message


@pytest.mark.parametrize("which", CALLS)
def test_sleeping_call_in_a_timer_callback_is_atomic_sleep(lab, which):
    k = boot(lab)
    prepare(lab, which)
    timer = lab.ns("ms")["timer"]
    timer.data = CALLS.index(which)
    k.timers.arm(timer, 1)
    k.do("tick", 1)
    f = lab.finding()
    assert (f.kind, f.title) == ("atomic-sleep", SLEPT.format("ms_call"))
    assert "(softirq)" in f.message


@pytest.mark.parametrize("which", CALLS)
def test_the_same_call_in_process_context_is_clean(lab, which):
    k = boot(lab)
    prepare(lab, which)
    lab.ioctl("ms", CALLS.index(which), 0)
    assert k.findings == [], lab.dmesg()


def test_misc_deregister_of_an_unregistered_device_warns_before_it_would_sleep(lab):
    """misc_deregister: WARN_ON(list_empty(&misc->list)) returns before mutex_lock."""
    boot(lab)
    lab.ioctl("ms", CALLS.index("misc_deregister"), 1)
    assert lab.findings() == [("warning", "WARNING: misc_deregister of unregistered device in ms_call")]


def test_a_failing_registration_under_a_spinlock_still_sleeps_first(lab):
    """The allocation that fault injection fails is itself a sleeping call."""
    k = boot(lab)
    file = k.do("open", "/dev/ms")
    k.do("ioctl", file, CALLS.index("misc_register"), 1, fail_nth=1)
    assert lab.findings() == [("atomic-sleep", SLEPT.format("ms_call"))]


@pytest.mark.parametrize("which, title", [
    ("driver_unregister", "WARNING: unregistering unknown driver in ms_call"),
    ("remove_proc_entry", "WARNING: remove_proc_entry of unknown entry in ms_call"),
])
def test_undoing_what_was_never_done_warns_before_it_would_sleep(lab, which, title):
    """driver_unregister's WARN for a driver with no private data and remove_proc_entry's
    for a missing name both return before anything that sleeps."""
    boot(lab)
    lab.ioctl("ms", CALLS.index(which), 1)
    assert lab.findings() == [("warning", title)]


@pytest.mark.parametrize("which", ["free_irq", "unregister_chrdev"])
def test_free_irq_and_unregister_chrdev_take_their_mutex_first(lab, which):
    """__free_irq and __unregister_chrdev_region lock before they look the entry up."""
    boot(lab)
    lab.ioctl("ms", CALLS.index(which), 1)
    assert lab.findings() == [("atomic-sleep", SLEPT.format("ms_call"))]
