"""Interrupts, timers and deferred work: contexts, ordering, and the clock."""

import errno

import pytest

from kfuzz.kapi import HZ, msecs_to_jiffies

SLEPT_IN = "BUG: sleeping function called from invalid context in {}"


def boot(lab, body, **config):
    """Loads `tw`, a misc device whose ioctl is `tw_ioctl` of the body."""
    lab.device("tw", body)
    k = lab.boot(**config)
    assert lab.insmod("tw") == 0, lab.dmesg()
    return k


# -- interrupts ---------------------------------------------------------------------------

IRQ = """
    calls = []
    got = []


    def tw_a(irq, dev_id):
        calls.append(("a", irq, dev_id))
        return IRQ_HANDLED


    def tw_b(irq, dev_id):
        calls.append(("b", irq, dev_id))
        return IRQ_NONE


    def tw_ioctl(file, cmd, arg):
        if cmd == 1:
            got.append(request_irq(arg, tw_a, IRQF_SHARED, "tw-a", "A"))
        if cmd == 2:
            got.append(request_irq(arg, tw_b, IRQF_SHARED, "tw-b", "B"))
        if cmd == 3:
            got.append(request_irq(arg, tw_b, 0, "tw-b", "B"))
        if cmd == 4:
            free_irq(arg, "A")
        if cmd == 5:
            free_irq(arg, "B")
        return 0
"""


def test_irq_handler_runs_on_its_line_with_its_dev_id(lab):
    k = boot(lab, IRQ)
    lab.ioctl("tw", 1, 20)
    assert k.do("irq", 20) == 0
    assert k.do("irq", 21) == 0
    assert lab.ns("tw")["calls"] == [("a", 20, "A")]
    lab.ioctl("tw", 4, 20)
    k.do("irq", 20)
    assert lab.ns("tw")["calls"] == [("a", 20, "A")]
    assert k.findings == []


def test_spurious_interrupt_is_logged_and_not_a_finding(lab):
    """A line with no handler at all: logged (and not counted as a stuck line)."""
    k = lab.boot()
    assert k.do("irq", 7) == 0
    assert "irq 7: nobody cared (spurious interrupt)" in lab.dmesg()
    assert k.findings == []


def test_shared_line_runs_every_handler_and_unshared_request_is_ebusy(lab):
    k = boot(lab, IRQ)
    for cmd in (1, 2, 3):
        lab.ioctl("tw", cmd, 30)
    assert lab.ns("tw")["got"] == [0, 0, -errno.EBUSY]
    k.do("irq", 30)
    assert lab.ns("tw")["calls"] == [("a", 30, "A"), ("b", 30, "B")]
    for cmd in (4, 5):
        lab.ioctl("tw", cmd, 30)
    lab.ioctl("tw", 3, 30)
    lab.ioctl("tw", 1, 30)
    assert lab.ns("tw")["got"][3:] == [0, -errno.EBUSY], "shared needs both sides shared"
    lab.ioctl("tw", 5, 30)
    assert k.findings == []


def test_freeing_an_irq_that_is_not_requested_warns(lab):
    k = boot(lab, IRQ)
    assert lab.ioctl("tw", 4, 40) == 0, "a WARNING does not stop the code"
    assert lab.findings() == [("warning", "WARNING: trying to free already-free IRQ in tw_ioctl")]
    assert "Trying to free already-free IRQ 40" in lab.dmesg()
    assert "W" in k.taint_string()


@pytest.mark.parametrize("call, finding", [
    ("msleep(1)", [("atomic-sleep", SLEPT_IN.format("tw_irq"))]),
    ("mutex_lock(m)", [("atomic-sleep", SLEPT_IN.format("tw_irq"))]),
    ("kfree(kmalloc(4))", [("atomic-sleep", SLEPT_IN.format("tw_irq"))]),
    ("kfree(kmalloc(4, GFP_ATOMIC))", []),
])
def test_irq_handler_runs_in_hard_irq_context(lab, call, finding):
    k = boot(lab, f"""
        m = mutex_init()


        def tw_irq(irq, dev_id):
            {call}
            return IRQ_HANDLED


        def tw_ioctl(file, cmd, arg):
            return request_irq(50, tw_irq, 0, "tw", None)
    """)
    lab.ioctl("tw")
    k.do("irq", 50)
    assert lab.findings() == finding, lab.dmesg()


# -- timers -------------------------------------------------------------------------------

def test_jiffies_conversions():
    assert HZ == 100
    assert [msecs_to_jiffies(ms) for ms in (0, 1, 10, 15, 1000)] == [0, 1, 1, 2, HZ]


TIMERS = """
    fired = []
    got = {}


    def tw_early(t):
        fired.append(("early", jiffies()))


    def tw_late(t):
        fired.append(("late", jiffies()))


    early = timer_setup(tw_early)
    late = timer_setup(tw_late)


    def tw_ioctl(file, cmd, arg):
        now = jiffies()
        got["now"] = now
        if cmd == 1:
            got["mod late"] = mod_timer(late, now + 5)
            got["mod early"] = mod_timer(early, now + 2)
            got["mod again"] = mod_timer(late, now + 5)
            got["pending"] = (timer_pending(early), timer_pending(late))
        if cmd == 2:
            got["del"] = (del_timer(early), del_timer_sync(late), del_timer(late))
            got["pending"] = (timer_pending(early), timer_pending(late))
        return 0
"""


def test_timers_fire_in_order_when_the_clock_ticks(lab):
    k = boot(lab, TIMERS)
    k.do("tick", 10)
    lab.ioctl("tw", 1)
    got, fired = lab.ns("tw")["got"], lab.ns("tw")["fired"]
    assert got == {"now": 10, "mod late": 0, "mod early": 0, "mod again": 1, "pending": (True, True)}
    k.do("tick", 1)
    assert fired == []
    k.do("tick", 1)
    assert fired == [("early", 12)]
    k.do("tick", 10)
    assert fired == [("early", 12), ("late", 15)]
    assert k.jiffies == 22
    lab.ioctl("tw", 2)
    assert got["del"] == (0, 0, 0) and got["pending"] == (False, False)
    assert k.findings == []


def test_del_timer_disarms_and_says_it_was_pending(lab):
    k = boot(lab, TIMERS)
    lab.ioctl("tw", 1)
    lab.ioctl("tw", 2)
    assert lab.ns("tw")["got"]["del"] == (1, 1, 0)
    assert lab.ns("tw")["got"]["pending"] == (False, False)
    k.do("tick", 100)
    assert lab.ns("tw")["fired"] == []


def test_timers_due_together_fire_in_arming_order(lab):
    k = boot(lab, """
        fired = []


        def tw_one(t):
            fired.append("one")


        def tw_two(t):
            fired.append("two")
            mod_timer(t, jiffies() + 1)  # periodic


        def tw_ioctl(file, cmd, arg):
            mod_timer(timer_setup(tw_two), jiffies() + 1)
            mod_timer(timer_setup(tw_one), jiffies() + 1)
            return 0
    """)
    lab.ioctl("tw")
    k.do("tick", 3)
    assert lab.ns("tw")["fired"] == ["two", "one", "two", "two"]


@pytest.mark.parametrize("call", ["msleep(1)", "might_sleep()", "kmalloc(4)"])
def test_timer_callback_runs_in_softirq_context(lab, call):
    k = boot(lab, f"""
        def tw_fn(t):
            {call}


        timer = timer_setup(tw_fn)


        def tw_ioctl(file, cmd, arg):
            return mod_timer(timer, jiffies() + 1)
    """)
    lab.ioctl("tw")
    k.do("tick", 1)
    assert lab.findings() == [("atomic-sleep", SLEPT_IN.format("tw_fn"))]
    assert "(softirq)" in k.findings[0].message


# -- work -----------------------------------------------------------------------------------

WORK = """
    ran = []
    got = {}
    lock = mutex_init()


    def tw_work(w):
        mutex_lock(lock)  # process context: sleeping is fine
        msleep(1)
        ran.append(("work", jiffies()))
        mutex_unlock(lock)


    def tw_dwork(w):
        ran.append(("dwork", jiffies()))


    work = INIT_WORK(tw_work)
    dwork = INIT_DELAYED_WORK(tw_dwork)
    wq = None


    def tw_ioctl(file, cmd, arg):
        global wq
        if cmd == 1:
            got["schedule"] = (schedule_work(work), schedule_work(work))
        if cmd == 2:
            got["delayed"] = (schedule_delayed_work(dwork, 5), schedule_delayed_work(dwork, 5))
        if cmd == 3:
            wq = wq or alloc_workqueue("tw_wq")
            got["queue"] = queue_work(wq, work)
        if cmd == 4:
            flush_workqueue(wq)
        if cmd == 5:
            destroy_workqueue(wq)
        if cmd == 6:
            got["cancel"] = (cancel_work_sync(work), cancel_delayed_work_sync(dwork))
        if cmd == 7:
            got["flush"] = flush_work(work)
        return 0
"""


def test_scheduled_work_runs_in_process_context_on_the_next_tick(lab):
    k = boot(lab, WORK)
    lab.ioctl("tw", 1)
    assert lab.ns("tw")["got"]["schedule"] == (True, False), "already pending"
    assert lab.ns("tw")["ran"] == []
    k.do("tick", 0)
    # msleep(1) sleeps msecs_to_jiffies(1) + 1 jiffies: the clock moves while the work sleeps
    assert lab.ns("tw")["ran"] == [("work", 2)]
    assert k.findings == []


def test_delayed_work_runs_after_its_delay(lab):
    k = boot(lab, WORK)
    lab.ioctl("tw", 2)
    assert lab.ns("tw")["got"]["delayed"] == (True, False)
    k.do("tick", 4)
    assert lab.ns("tw")["ran"] == []
    k.do("tick", 1)
    assert lab.ns("tw")["ran"] == [("dwork", 5)]
    assert k.findings == []


def test_own_workqueue_queue_flush_and_destroy(lab):
    k = boot(lab, WORK)
    lab.ioctl("tw", 3)
    assert lab.ns("tw")["got"]["queue"] is True
    lab.ioctl("tw", 4)
    assert lab.ns("tw")["ran"] == [("work", 2)], "flush_workqueue runs what is queued"
    lab.ioctl("tw", 3)
    lab.ioctl("tw", 5)
    assert lab.ns("tw")["ran"] == [("work", 2), ("work", 4)], "destroy_workqueue flushes first"
    assert k.workqueues.queues == []
    assert k.findings == []


def test_cancel_and_flush_work(lab):
    k = boot(lab, WORK)
    lab.ioctl("tw", 1)
    lab.ioctl("tw", 2)
    lab.ioctl("tw", 6)
    assert lab.ns("tw")["got"]["cancel"] == (True, True)
    lab.ioctl("tw", 6)
    assert lab.ns("tw")["got"]["cancel"] == (False, False)
    k.do("tick", 10)
    assert lab.ns("tw")["ran"] == []
    lab.ioctl("tw", 7)
    assert lab.ns("tw")["got"]["flush"] is False
    lab.ioctl("tw", 1)
    lab.ioctl("tw", 7)
    assert lab.ns("tw")["got"]["flush"] is True
    assert lab.ns("tw")["ran"] == [("work", 12)]  # msleep(1): two jiffies
    assert k.findings == []


def test_work_that_returns_holding_a_lock_is_lockdep(lab):
    k = boot(lab, """
        lock = mutex_init()


        def tw_work(w):
            mutex_lock(lock)


        work = INIT_WORK(tw_work)


        def tw_ioctl(file, cmd, arg):
            return schedule_work(work)
    """)
    lab.ioctl("tw")
    k.do("tick", 1)
    assert lab.findings() == [("lockdep", "BUG: workqueue leaked lock in tw_work")]


def test_a_shared_irq_with_no_dev_id_is_einval(lab):
    """request_threaded_irq (kernel/irq/manage.c): IRQF_SHARED needs a dev_id for free_irq
    to tell the handlers apart; the check comes before anything is allocated."""
    k = boot(lab, """
        got = []


        def tw_irq(irq, dev_id):
            return IRQ_HANDLED


        def tw_ioctl(file, cmd, arg):
            got.append(request_irq(40, tw_irq, IRQF_SHARED if cmd else 0, "tw", None))
            return 0
    """)
    lab.ioctl("tw", 1)
    assert 40 not in k.irqs.lines or k.irqs.lines[40] == []
    lab.ioctl("tw", 0)  # an unshared line may have no dev_id
    assert lab.ns("tw")["got"] == [-errno.EINVAL, 0]
    assert k.findings == []


# -- note_interrupt (kernel/irq/spurious.c): a stuck line is 99,900 unhandled in 100,000 ----

STUCK = """
    seen = [0]


    def tw_irq(irq, dev_id):
        seen[0] += 1
        return IRQ_HANDLED if seen[0] <= HANDLED else IRQ_NONE


    def tw_ioctl(file, cmd, arg):
        if cmd == 1:
            return request_irq(45, tw_irq, IRQF_SHARED, "tw", "T")
        free_irq(45, "T")
        return 0
"""


def stuck(lab, handled):
    k = boot(lab, f"\n    HANDLED = {handled}\n" + STUCK)
    assert lab.ioctl("tw", 1) == 0
    return k


def raise_many(k, n):
    """n interrupts on line 45 in one operation, at one jiffy: as a storm comes."""
    k.run_op(lambda: [k.irqs.raise_line(45) for _ in range(n)])


def test_one_unhandled_interrupt_is_not_reported(lab):
    k = stuck(lab, 0)
    assert k.do("irq", 45) == 0
    assert "nobody cared" not in lab.dmesg() and k.findings == []


def test_more_than_99900_unhandled_in_100000_disables_the_line(lab):
    k = stuck(lab, 99)  # 99,901 unhandled
    raise_many(k, 99_999)
    assert "nobody cared" not in lab.dmesg()
    raise_many(k, 1)
    text = lab.dmesg()
    assert 'irq 45: nobody cared (try booting with the "irqpoll" option)' in text
    assert "handlers:\n" in text or "] handlers:" in text
    assert "tw_irq" in text and "Disabling IRQ #45" in text
    seen = lab.ns("tw")["seen"][0]
    raise_many(k, 5)
    assert lab.ns("tw")["seen"][0] == seen, "a disabled line runs no handler"
    assert k.findings == [], "logged, as Linux logs it: not a finding"
    assert lab.ioctl("tw", 2) == 0 and lab.ioctl("tw", 1) == 0  # a new handler re-enables it
    k.do("irq", 45)
    assert lab.ns("tw")["seen"][0] == seen + 1


def test_99900_unhandled_in_100000_is_not_stuck(lab):
    k = stuck(lab, 100)  # exactly 99,900 unhandled
    raise_many(k, 100_000)
    assert "nobody cared" not in lab.dmesg()
    raise_many(k, 100_000)  # the next window starts from 0 again: all unhandled now
    assert "Disabling IRQ #45" in lab.dmesg()


def test_an_odd_unhandled_interrupt_restarts_the_count(lab):
    """More than HZ/10 jiffies after the last unhandled one, the count starts again at 1."""
    k = stuck(lab, 0)
    for _ in range(3):
        raise_many(k, 40_000)
        k.do("tick", HZ // 10 + 1)
    assert k.irqs.descs[45].irqs_unhandled <= 40_000
    assert "nobody cared" not in lab.dmesg()
