"""Waiting for a callback is taking its lock: lockdep maps of timers, work and workqueues.

`del_timer_sync` takes the timer's map, `flush_work` and `cancel_work_sync` the work's,
`flush_workqueue` and `destroy_workqueue` the queue's; the callback runs under them
(kernel/time/timer.c, kernel/workqueue.c). Each bug has a correct twin that stays clean.
"""

import pytest

CIRCULAR = "possible circular locking dependency in {}"
RECURSIVE = "possible recursive locking in {}"


def boot(lab, body):
    """Loads `mw`, a misc device whose ioctl is `mw_ioctl` of the body."""
    lab.device("mw", body)
    k = lab.boot()
    assert lab.insmod("mw") == 0, lab.dmesg()
    return k


# -- timers -------------------------------------------------------------------------------

TIMER = """
    lock = spin_lock_init()
    beats = []


    def mw_beat(t):
        spin_lock(lock)
        beats.append(jiffies())
        spin_unlock(lock)


    timer = timer_setup(mw_beat)


    def mw_ioctl(file, cmd, arg):
        if cmd == 1:
            mod_timer(timer, jiffies() + 1)
        if cmd == 2:  # BUG: waits for mw_beat, which takes the lock held here
            spin_lock_bh(lock)
            del_timer_sync(timer)
            spin_unlock_bh(lock)
        if cmd == 3:  # the fix: stop the timer first, then take the lock
            del_timer_sync(timer)
            spin_lock_bh(lock)
            spin_unlock_bh(lock)
        return 0
"""


def test_del_timer_sync_under_the_callbacks_lock_closes_a_cycle(lab):
    k = boot(lab, TIMER)
    lab.ioctl("mw", 1)
    k.do("tick", 1)  # mw_beat ran: (timer)mw_beat -> lock
    assert lab.ns("mw")["beats"] == [1]
    lab.ioctl("mw", 2)  # lock -> (timer)mw_beat
    f = lab.finding()
    assert (f.kind, f.title) == ("lockdep", CIRCULAR.format("mw_ioctl"))
    assert "(timer)mw_beat" in f.message


def test_the_cycle_is_found_whichever_side_is_seen_first(lab):
    k = boot(lab, TIMER)
    lab.ioctl("mw", 2)  # lock -> (timer)mw_beat, before the callback ever ran
    assert k.findings == []
    lab.ioctl("mw", 1)
    k.do("tick", 1)  # mw_beat takes the lock under the timer's map: the cycle closes there
    assert lab.findings() == [("lockdep", CIRCULAR.format("mw_beat"))]


def test_del_timer_sync_outside_the_lock_is_clean(lab):
    k = boot(lab, TIMER)
    for _ in range(2):
        lab.ioctl("mw", 1)
        k.do("tick", 1)
        lab.ioctl("mw", 3)
    lab.ioctl("mw", 1)
    lab.ioctl("mw", 3)
    assert lab.ns("mw")["beats"] == [1, 2]
    assert k.findings == [], lab.dmesg()


def test_del_timer_sync_spins_it_does_not_sleep(lab):
    k = boot(lab, """
        other = spin_lock_init()


        def mw_beat(t):
            pass


        timer = timer_setup(mw_beat)


        def mw_ioctl(file, cmd, arg):
            mod_timer(timer, jiffies() + 1)
            spin_lock(other)  # a lock mw_beat never takes
            del_timer_sync(timer)
            spin_unlock(other)
            return 0
    """)
    lab.ioctl("mw")
    k.do("tick", 1)
    lab.ioctl("mw")
    assert k.findings == [], lab.dmesg()


@pytest.mark.parametrize("call, findings", [
    ("del_timer_sync(t)", [("lockdep", RECURSIVE.format("mw_beat"))]),
    ("del_timer(t)", []),  # the fix: a callback stops its own timer without waiting
])
def test_a_timer_waiting_for_itself_is_recursive_locking(lab, call, findings):
    k = boot(lab, f"""
        def mw_beat(t):
            {call}


        timer = timer_setup(mw_beat)


        def mw_ioctl(file, cmd, arg):
            return mod_timer(timer, jiffies() + 1)
    """)
    lab.ioctl("mw")
    k.do("tick", 1)
    assert lab.findings() == findings, lab.dmesg()
    if findings:
        assert "call_timer_fn" in k.findings[0].message


def test_timers_made_at_one_line_share_a_class(lab):
    """As timer_setup's static lock_class_key: waiting for a sibling from a callback is
    recursion to lockdep, as it is in Linux."""
    k = boot(lab, """
        timers = []


        def mw_beat(t):
            for other in timers:
                if other is not t:
                    del_timer_sync(other)


        def mw_ioctl(file, cmd, arg):
            timers.extend(timer_setup(mw_beat) for _ in range(2))
            return mod_timer(timers[0], jiffies() + 1)
    """)
    lab.ioctl("mw")
    k.do("tick", 1)
    assert lab.findings() == [("lockdep", RECURSIVE.format("mw_beat"))]


@pytest.mark.parametrize("flags, findings", [
    ("0", [("warning", "WARNING: del_timer_sync in hardirq context in mw_irq")]),
    ("TIMER_IRQSAFE", []),
])
def test_del_timer_sync_in_hardirq_context_warns(lab, flags, findings):
    k = boot(lab, f"""
        def mw_beat(t):
            pass


        timer = timer_setup(mw_beat, {flags})


        def mw_irq(irq, dev_id):
            del_timer_sync(timer)
            del_timer(timer)  # never a warning
            return IRQ_HANDLED


        def mw_ioctl(file, cmd, arg):
            mod_timer(timer, jiffies() + 5)
            return request_irq(40, mw_irq, 0, "mw", None)


        def mw_release(inode, file):
            free_irq(40, None)
            return 0
    """)
    lab.ioctl("mw")
    k.do("irq", 40)
    assert lab.findings() == findings, lab.dmesg()
    assert not k.timers.pending  # it was stopped all the same


# -- work -----------------------------------------------------------------------------------

WORK = """
    m = mutex_init()
    ran = []


    def mw_work(w):
        mutex_lock(m)
        ran.append(jiffies())
        mutex_unlock(m)


    work = INIT_WORK(mw_work)
    wq = alloc_workqueue("mw_wq")


    def mw_ioctl(file, cmd, arg):
        if cmd == 1:
            schedule_work(work)
        if cmd == 2:
            queue_work(wq, work)
        if cmd in (3, 4, 5, 6):  # BUG: each waits for mw_work, which takes m, under m
            mutex_lock(m)
            if cmd == 3:
                flush_work(work)
            if cmd == 4:
                cancel_work_sync(work)
            if cmd == 5:
                flush_workqueue(wq)
            if cmd == 6:
                destroy_workqueue(wq)
            mutex_unlock(m)
        if cmd in (13, 14, 15, 16):  # the fix: wait first, then take the mutex
            if cmd == 13:
                flush_work(work)
            if cmd == 14:
                cancel_work_sync(work)
            if cmd == 15:
                flush_workqueue(wq)
            if cmd == 16:
                destroy_workqueue(wq)
            mutex_lock(m)
            mutex_unlock(m)
        return 0
"""


@pytest.mark.parametrize("queue, wait", [(1, 3), (1, 4), (2, 3), (2, 4), (2, 5), (2, 6)],
                         ids=["flush_work", "cancel_work_sync", "flush_work-own-wq",
                              "cancel_work_sync-own-wq", "flush_workqueue", "destroy_workqueue"])
def test_waiting_for_work_under_the_lock_it_takes_closes_a_cycle(lab, queue, wait):
    k = boot(lab, WORK)
    lab.ioctl("mw", queue)
    k.do("tick", 0)  # mw_work ran: its maps -> m
    assert lab.ns("mw")["ran"] == [0]
    lab.ioctl("mw", queue)
    lab.ioctl("mw", wait)
    f = lab.finding()
    assert (f.kind, f.title) == ("lockdep", CIRCULAR.format("mw_ioctl")), lab.dmesg()


@pytest.mark.parametrize("queue, wait", [(1, 13), (1, 14), (2, 13), (2, 15), (2, 16)])
def test_waiting_for_work_without_its_lock_is_clean(lab, queue, wait):
    k = boot(lab, WORK)
    lab.ioctl("mw", queue)
    k.do("tick", 0)
    lab.ioctl("mw", queue)
    lab.ioctl("mw", wait)
    assert k.findings == [], lab.dmesg()
    assert lab.ns("mw")["ran"] == ([0] if wait == 14 else [0, 0])


def test_work_flushed_under_its_lock_before_it_ever_ran_is_caught_in_the_kworker(lab):
    """flush_work runs the queued work in a kworker of its own: the kworker, not the
    flusher, takes m, and that closes the cycle (Linux reports it there too)."""
    boot(lab, WORK)
    lab.ioctl("mw", 1)
    lab.ioctl("mw", 3)
    assert lab.findings() == [("lockdep", CIRCULAR.format("mw_work"))], lab.dmesg()


def test_flushed_work_runs_in_a_kworker_without_the_flushers_locks(lab):
    """The flusher's mutex is not the work's: no leaked lock, no recursion, no sleep bug.
    It is locked all the same (by the flusher's task): mutex_is_locked asks whether
    anyone holds it, as in Linux."""
    k = boot(lab, """
        outer = mutex_init()
        ran = []


        def mw_work(w):
            ran.append(mutex_is_locked(outer))
            msleep(1)


        work = INIT_WORK(mw_work)


        def mw_ioctl(file, cmd, arg):
            schedule_work(work)
            mutex_lock(outer)
            flush_work(work)
            mutex_unlock(outer)
            return 0
    """)
    lab.ioctl("mw")
    assert lab.ns("mw")["ran"] == [True]
    assert k.findings == [], lab.dmesg()


@pytest.mark.parametrize("call, title", [
    ("flush_work(w)", RECURSIVE.format("mw_work")),
    ("cancel_work_sync(w)", RECURSIVE.format("mw_work")),
    ("flush_workqueue(wq)", RECURSIVE.format("mw_work")),
    ("cancel_work(w)", None),  # the fix: a work cancels itself without waiting
])
def test_work_waiting_for_itself_is_recursive_locking(lab, call, title):
    k = boot(lab, f"""
        def mw_work(w):
            {call}


        work = INIT_WORK(mw_work)
        wq = alloc_workqueue("mw_wq")


        def mw_ioctl(file, cmd, arg):
            return queue_work(wq, work)


        def mw_release(inode, file):
            destroy_workqueue(wq)
            return 0
    """)
    lab.ioctl("mw")
    k.do("tick", 0)
    assert lab.findings() == ([("lockdep", title)] if title else []), lab.dmesg()


@pytest.mark.parametrize("alloc, findings", [
    ('create_singlethread_workqueue("mw_wq")', [("lockdep", RECURSIVE.format("mw_first"))]),
    ('alloc_workqueue("mw_wq")', []),
])
def test_flushing_a_sibling_on_an_ordered_queue_is_recursive(lab, alloc, findings):
    """start_flush_work takes an ordered queue's map: the sibling waits behind the
    flusher on a one-at-a-time queue."""
    k = boot(lab, f"""
        def mw_second(w):
            pass


        second = INIT_WORK(mw_second)


        def mw_first(w):
            queue_work(wq, second)
            flush_work(second)


        first = INIT_WORK(mw_first)
        wq = {alloc}


        def mw_ioctl(file, cmd, arg):
            return queue_work(wq, first)


        def mw_release(inode, file):
            destroy_workqueue(wq)
            return 0
    """)
    lab.ioctl("mw")
    k.do("tick", 0)
    assert lab.findings() == findings, lab.dmesg()


def test_a_destroyed_queue_takes_its_orders_with_it(lab):
    """wq_unregister_lockdep: after destroy_workqueue, m -> (wq_completion) -> n through
    the dead queue no longer holds n -> m against the module."""
    k = boot(lab, """
        m = mutex_init()
        n = mutex_init()


        def mw_work(w):
            mutex_lock(n)
            mutex_unlock(n)


        work = INIT_WORK(mw_work)
        wq = None


        def mw_ioctl(file, cmd, arg):
            global wq
            if cmd == 1:
                wq = alloc_workqueue("mw_wq")
                queue_work(wq, work)
                flush_workqueue(wq)  # (wq_completion)mw_wq -> (work_completion)mw_work -> n
                mutex_lock(m)
                flush_workqueue(wq)  # m -> (wq_completion)mw_wq
                mutex_unlock(m)
                destroy_workqueue(wq)
            if cmd == 2:
                mutex_lock(n)
                mutex_lock(m)
                mutex_unlock(m)
                mutex_unlock(n)
            return 0
    """)
    lab.ioctl("mw", 1)
    lab.ioctl("mw", 2)
    assert k.findings == [], lab.dmesg()
