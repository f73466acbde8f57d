"""Timers and debug objects: add_timer on a pending timer (kernel/time/timer.c) and
kfree of a struct whose timer or work is still active (lib/debugobjects.c)."""

import pytest

from kfuzz.kapi import pci_device_id

ODEBUG = "ODEBUG: free active object type: {} in {}"


def boot(lab, body):
    lab.device("od", body)
    k = lab.boot()
    assert lab.insmod("od") == 0, lab.dmesg()
    return k


# -- add_timer ------------------------------------------------------------------------------

ADD = """
    fired = []


    def od_beat(t):
        fired.append(jiffies())


    timer = timer_setup(od_beat)


    def od_ioctl(file, cmd, arg):
        if cmd == 1:
            timer.expires = jiffies() + arg
            add_timer(timer)
        if cmd == 2:
            mod_timer(timer, jiffies() + arg)
        if cmd == 3:
            add_timer(timer)  # BUG when it is pending
        return 0
"""


def test_add_timer_arms_an_idle_timer_at_its_expires(lab):
    k = boot(lab, ADD)
    lab.ioctl("od", 1, 3)
    k.do("tick", 3)
    lab.ioctl("od", 1, 2)  # idle again after it fired
    k.do("tick", 2)
    assert lab.ns("od")["fired"] == [3, 5]
    assert k.findings == [], lab.dmesg()


def test_add_timer_on_a_pending_timer_warns_and_leaves_it_armed_as_it_was(lab):
    k = boot(lab, ADD)
    lab.ioctl("od", 1, 3)
    lab.ioctl("od", 3)
    assert lab.findings() == [("warning", "WARNING: add_timer of a pending timer in od_ioctl")]
    assert "W" in k.taint_string()
    k.do("tick", 3)
    assert lab.ns("od")["fired"] == [3]  # armed once, at the first expiry


def test_mod_timer_on_a_pending_timer_is_clean(lab):
    k = boot(lab, ADD)
    lab.ioctl("od", 1, 3)
    lab.ioctl("od", 2, 10)
    k.do("tick", 10)
    assert lab.ns("od")["fired"] == [10]
    assert k.findings == [], lab.dmesg()


# -- ODEBUG: free active ---------------------------------------------------------------------

FREE = """
    fired = []


    def od_beat(t):
        fired.append("beat")  # never touches the struct: the free is the bug all the same


    def od_work(w):
        fired.append("work")


    def od_ioctl(file, cmd, arg):
        priv = kzalloc(32)
        priv.timer = timer_setup(od_beat)
        priv.work = INIT_WORK(od_work)
        priv.dwork = INIT_DELAYED_WORK(od_work)
        if arg == 1:
            mod_timer(priv.timer, jiffies() + 5)
        if arg == 2:
            schedule_work(priv.work)
        if arg == 3:
            schedule_delayed_work(priv.dwork, 5)
        if cmd == 1:  # the fix: stop them first
            del_timer_sync(priv.timer)
            cancel_work_sync(priv.work)
            cancel_delayed_work_sync(priv.dwork)
        kfree(priv)
        return 0
"""


@pytest.mark.parametrize("arm, objtype, hint", [
    (1, "timer_list", "od_beat"),
    (2, "work_struct", "od_work"),
    (3, "timer_list", "delayed_work_timer_fn"),  # the delayed work's own timer is the active one
])
def test_freeing_a_struct_with_an_active_timer_or_work_is_odebug(lab, arm, objtype, hint):
    k = boot(lab, FREE)
    lab.ioctl("od", 0, arm)
    f = lab.finding()
    assert (f.kind, f.title) == ("warning", ODEBUG.format(objtype, "od_ioctl"))
    assert f"object type: {objtype} hint: {hint}" in f.message
    assert "ODEBUG: free active (active state 0) object:" in f.message
    assert "W" in k.taint_string()
    k.do("tick", 10)  # the fixup stopped it: nothing runs for the freed struct
    assert lab.ns("od")["fired"] == []


@pytest.mark.parametrize("arm", [0, 1, 2, 3])
def test_stopping_them_before_kfree_is_clean(lab, arm):
    k = boot(lab, FREE)
    lab.ioctl("od", 1, arm)
    k.do("tick", 10)
    assert lab.ns("od")["fired"] == []
    assert k.findings == [], lab.dmesg()


def test_a_timer_that_fired_is_inactive_and_may_be_freed(lab):
    k = boot(lab, """
        kept = []


        def od_beat(t):
            pass


        def od_ioctl(file, cmd, arg):
            if cmd == 1:
                priv = kzalloc(8)
                priv.timer = timer_setup(od_beat)
                mod_timer(priv.timer, jiffies() + 1)
                kept.append(priv)
            if cmd == 2:
                kfree(kept.pop())
            return 0
    """)
    lab.ioctl("od", 1)
    k.do("tick", 1)
    lab.ioctl("od", 2)
    assert k.findings == [], lab.dmesg()


def test_devres_freeing_a_struct_with_its_timer_armed_blames_the_probe(lab):
    """remove() forgot del_timer_sync: devres frees the state after it, and the report
    names the function that allocated it (no module code is on the stack then)."""
    lab.module("odd", """
        def odd_beat(t):
            pass


        def odd_probe(dev, id):
            st = devm_kzalloc(dev, 32)
            st.timer = timer_setup(odd_beat)
            mod_timer(st.timer, jiffies() + 10)
            return 0


        def odd_remove(dev):
            pass  # BUG: del_timer_sync(st.timer) missing


        odd_driver = Driver(name="odd", bus="pci", id_table=[pci_device_id(0x1AF4, 0x4242)],
                            probe=odd_probe, remove=odd_remove)


        @module_init
        def odd_init():
            return driver_register(odd_driver)


        @module_exit
        def odd_exit():
            driver_unregister(odd_driver)
    """)
    k = lab.boot()
    assert lab.insmod("odd") == 0
    dev = k.do("plug", "pci", pci_device_id(0x1AF4, 0x4242))
    k.do("unplug", dev)
    assert lab.findings() == [("warning", ODEBUG.format("timer_list", "odd_probe"))]
    assert not k.timers.pending
