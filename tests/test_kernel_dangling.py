"""What a module leaves registered after its exit: `WARNING: dangling WHAT NAME after unload`."""

import pytest

LEAVER = """
    def dg_irq(irq, dev_id):
        return IRQ_HANDLED


    def dg_timer(t):
        pass


    def dg_work(w):
        pass


    def dg_pm(event):
        return 0


    @module_init
    def dg_init():
        ret = {setup}
        return ret if isinstance(ret, int) and ret < 0 else 0


    @module_exit
    def dg_exit():
        pass
"""

LEFT = {
    "chrdev registration dg": 'register_chrdev(0, "dg", FileOperations())',
    "misc device dg0": 'misc_register(MiscDevice(name="dg0", fops=FileOperations()))',
    "proc entry dg": 'proc_create("dg", 0o444, FileOperations())',
    "driver dgdrv": 'driver_register(Driver(name="dgdrv", bus="platform"))',
    "irq handler dg_irq": 'request_irq(60, dg_irq, 0, "dg", None)',
    "timer dg_timer": "mod_timer(timer_setup(dg_timer), jiffies() + 10)",
    "work dg_work": "schedule_work(INIT_WORK(dg_work))",
    "delayed work dg_work": "schedule_delayed_work(INIT_DELAYED_WORK(dg_work), 10)",
    "workqueue dg_wq": 'alloc_workqueue("dg_wq")',
    "pm notifier dg_pm": "register_pm_notifier(dg_pm)",
}


@pytest.mark.parametrize("what", LEFT)
def test_registration_left_after_exit_is_dangling(lab, what):
    lab.module("dg", LEAVER.format(setup=LEFT[what]))
    k = lab.boot()
    assert lab.insmod("dg") == 0, lab.dmesg()
    k.do("rmmod", "dg")
    f = lab.finding()
    assert (f.kind, f.title) == ("dangling-registration", f"WARNING: dangling {what} after unload")
    assert (f.module, f.function) == ("dg", "dg_init"), "blames where it was registered"
    assert "dg" not in k.loader.modules, "the module is gone all the same"


@pytest.mark.parametrize("what", LEFT)
def test_registration_left_by_a_failed_init_is_dangling(lab, what):
    lab.module("dg", LEAVER.format(setup=LEFT[what]).replace(
        "return ret if isinstance(ret, int) and ret < 0 else 0", "return -EIO"))
    k = lab.boot()
    k.do("insmod", "dg", {})
    assert lab.findings() == [("dangling-registration", f"WARNING: dangling {what} after unload")]
    assert "dg" not in k.loader.modules


@pytest.mark.parametrize("what, op, args, fn", [
    ("irq handler dg_irq", "irq", (60,), "dg_irq"),
    ("timer dg_timer", "tick", (10,), "dg_timer"),
    ("work dg_work", "tick", (0,), "dg_work"),
    ("delayed work dg_work", "tick", (10,), "dg_work"),
    ("pm notifier dg_pm", "suspend", (), "dg_pm"),
])
def test_dangling_callback_that_fires_runs_unloaded_code(lab, what, op, args, fn):
    lab.module("dg", LEAVER.format(setup=LEFT[what]))
    k = lab.boot()
    lab.insmod("dg")
    k.do("rmmod", "dg")
    k.do(op, *args)
    assert lab.findings() == [
        ("dangling-registration", f"WARNING: dangling {what} after unload"),
        ("unloaded-code", f"BUG: unable to handle page fault in {fn}"),
    ]
    assert k.findings[1].module == "dg"


def test_clean_module_leaves_nothing(lab):
    lab.module("clean", """
        def clean_irq(irq, dev_id):
            return IRQ_HANDLED


        def clean_timer(t):
            pass


        def clean_work(w):
            pass


        def clean_pm(event):
            return 0


        fops = FileOperations(owner=THIS_MODULE)
        misc = MiscDevice(name="clean0", fops=fops)
        drv = Driver(name="cleandrv", bus="platform")
        timer = timer_setup(clean_timer)
        work = INIT_WORK(clean_work)
        dwork = INIT_DELAYED_WORK(clean_work)
        state = {}


        @module_init
        def clean_init():
            state["major"] = register_chrdev(0, "clean", fops)
            misc_register(misc)
            proc_create("clean", 0o444, fops)
            driver_register(drv)
            request_irq(61, clean_irq, 0, "clean", state)
            mod_timer(timer, jiffies() + 10)
            schedule_work(work)
            schedule_delayed_work(dwork, 10)
            state["wq"] = alloc_workqueue("clean_wq")
            register_pm_notifier(clean_pm)
            return 0


        @module_exit
        def clean_exit():
            unregister_pm_notifier(clean_pm)
            destroy_workqueue(state["wq"])
            cancel_delayed_work_sync(dwork)
            cancel_work_sync(work)
            del_timer_sync(timer)
            free_irq(61, state)
            driver_unregister(drv)
            remove_proc_entry("clean")
            misc_deregister(misc)
            unregister_chrdev(state["major"], "clean")
    """)
    k = lab.boot()
    assert lab.insmod("clean") == 0
    assert k.do("rmmod", "clean") == 0
    assert k.findings == [], lab.dmesg()
