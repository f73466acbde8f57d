"""lockdep's usage states, IRQ flags, nesting and class lifetime; each bug beside its correct twin.

The module `ld` has spinlocks s and t, an IRQ handler on line 9 and a timer callback,
each running `handler`/`tick`, and an ioctl that runs `body` (`cmd` picks a path).
"""

import pytest

LD = """
    s = spin_lock_init()
    t = spin_lock_init()
    got = []


    def ld_irq(irq, dev_id):
        {handler}
        return IRQ_HANDLED


    def ld_tick(timer):
        {tick}


    timer = timer_setup(ld_tick)


    def ld_setup():
        return request_irq(9, ld_irq, 0, "ld", None)


    def ld_ioctl(file, cmd, arg):
        if cmd == 0:
            mod_timer(timer, jiffies() + 1)
            return 0
        {body}
        return 0
"""


def indent(code: str, n: int) -> str:
    return ("\n" + " " * n).join(code.strip("\n").splitlines())


def ld(lab, body="pass", handler="pass", tick="pass"):
    lab.device("ld", LD.format(body=indent(body, 8), handler=indent(handler, 8), tick=indent(tick, 8)))
    k = lab.boot()
    assert lab.insmod("ld") == 0, lab.dmesg()
    return k


def run(lab, k, steps):
    """Runs "irq", "tick" or an ioctl cmd (an int) in turn, until a finding."""
    for step in steps:
        if step == "irq":
            k.do("irq", 9)
        elif step == "tick":
            lab.ioctl("ld", 0)
            k.do("tick", 1)
        else:
            lab.ioctl("ld", step)
        if k.findings:
            break


LOCK_S = "spin_lock(s)\nspin_unlock(s)"
IRQSAVE_S = "flags = spin_lock_irqsave(s)\nspin_unlock_irqrestore(s, flags)"
BH_S = "spin_lock_bh(s)\nspin_unlock_bh(s)"
INCONSISTENT = "inconsistent lock state in {}"


# -- usage states: a class used in IRQ context and taken with IRQs on -----------------------
@pytest.mark.parametrize("body, handler, tick, steps, fn, pair, state", [
    (LOCK_S, LOCK_S, "pass", ["irq", 1], "ld_ioctl", "{IN-HARDIRQ-W} -> {HARDIRQ-ON-W}",
     "[HC0[0]:SC0[0]:HE1:SE1]"),
    (LOCK_S, LOCK_S, "pass", [1, "irq"], "ld_irq", "{HARDIRQ-ON-W} -> {IN-HARDIRQ-W}",
     "[HC1[1]:SC0[0]:HE0:SE1]"),
    (BH_S, LOCK_S, "pass", [1, "irq"], "ld_irq", "{HARDIRQ-ON-W} -> {IN-HARDIRQ-W}", "HE0"),  # _bh keeps
    (LOCK_S, "pass", LOCK_S, ["tick", 1], "ld_ioctl", "{IN-SOFTIRQ-W} -> {SOFTIRQ-ON-W}",  # IRQs on
     "[HC0[0]:SC0[0]:HE1:SE1]"),
    (LOCK_S, "pass", LOCK_S, [1, "tick"], "ld_tick", "{SOFTIRQ-ON-W} -> {IN-SOFTIRQ-W}",
     "[HC0[0]:SC1[1]:HE1:SE0]"),
])
def test_a_lock_used_in_irq_context_and_taken_with_irqs_on_is_inconsistent(
        lab, body, handler, tick, steps, fn, pair, state):
    k = ld(lab, body, handler, tick)
    run(lab, k, steps)
    f = lab.finding()
    assert (f.kind, f.title) == ("lockdep", INCONSISTENT.format(fn))
    assert f"inconsistent {pair} usage." in f.message and state in f.message, f.message
    assert " lock(s);\n  <Interrupt>\n    lock(s);" in f.message


@pytest.mark.parametrize("body, handler, tick", [
    (IRQSAVE_S, IRQSAVE_S, IRQSAVE_S),        # irqsave everywhere
    (IRQSAVE_S, LOCK_S, IRQSAVE_S),           # IRQs are off in a handler: plain spin_lock is right
    ("spin_lock_irq(s)\nspin_unlock_irq(s)", LOCK_S, "pass"),
    (BH_S, "pass", LOCK_S),                   # _bh is enough against a timer
])
def test_a_lock_taken_with_irqs_off_wherever_irq_context_uses_it_is_clean(lab, body, handler, tick):
    k = ld(lab, body, handler, tick)
    run(lab, k, ["irq", 1, "tick", 1, "irq", "tick"])
    assert k.findings == [], lab.dmesg()


# -- lock order across IRQ safety ---------------------------------------------------------------
SAFE_UNSAFE = """
if cmd == 1:
    spin_lock(t)
    spin_unlock(t)
elif cmd == 2:
    flags = spin_lock_irqsave(s)
    spin_lock(t)
    spin_unlock(t)
    spin_unlock_irqrestore(s, flags)
elif cmd == 3:
    flags = spin_lock_irqsave(t)
    spin_unlock_irqrestore(t, flags)
"""


@pytest.mark.parametrize("handler, tick, first, title", [
    (LOCK_S, "pass", "irq", "HARDIRQ-safe -> HARDIRQ-unsafe lock order in ld_ioctl"),
    ("pass", LOCK_S, "tick", "SOFTIRQ-safe -> SOFTIRQ-unsafe lock order in ld_ioctl"),
])
def test_an_irq_safe_lock_taken_before_an_irq_unsafe_one(lab, handler, tick, first, title):
    k = ld(lab, SAFE_UNSAFE, handler, tick)
    run(lab, k, [first, 1, 2])
    f = lab.finding()
    assert (f.kind, f.title) == ("lockdep", title)
    state = title.split("-")[0]
    assert f"but this new dependency connects a {state}-irq-safe lock:\n (s)" in f.message, f.message
    assert f"to a {state}-irq-unsafe lock:\n (t)" in f.message


@pytest.mark.parametrize("handler, tick, first", [(LOCK_S, "pass", "irq"), ("pass", LOCK_S, "tick")])
def test_irq_safe_before_a_lock_that_is_never_taken_with_irqs_on_is_clean(lab, handler, tick, first):
    k = ld(lab, SAFE_UNSAFE, handler, tick)
    run(lab, k, [first, 3, 2, 3, 2, first])
    assert k.findings == [], lab.dmesg()


def test_an_order_seen_before_the_irq_usage_is_an_irq_lock_inversion(lab):
    k = ld(lab, SAFE_UNSAFE, LOCK_S)
    run(lab, k, [2, 1, "irq"])
    f = lab.finding()
    assert (f.kind, f.title) == ("lockdep", "possible irq lock inversion dependency in ld_irq")
    assert "but this lock took another, HARDIRQ-unsafe lock in the past:\n (t)" in f.message


# -- the IRQ state: spin_lock_irq / spin_unlock_irq do not save it ---------------------------------
UNLOCK_IRQ_INSIDE = """
flags = spin_lock_irqsave(s)
spin_lock_irq(t)
spin_unlock_irq(t)
got.append(irqs_disabled())
spin_unlock_irqrestore(s, flags)
got.append(irqs_disabled())
"""


def test_spin_unlock_irq_inside_an_irqsave_section_turns_irqs_on(lab):
    k = ld(lab, UNLOCK_IRQ_INSIDE)
    run(lab, k, [1])
    assert k.findings == [] and lab.ns("ld")["got"] == [False, False]
    k = ld(lab, UNLOCK_IRQ_INSIDE, handler=LOCK_S)
    run(lab, k, ["irq", 1])
    f = lab.finding()  # s is now held with IRQs on: the handler could deadlock on it
    assert (f.kind, f.title) == ("lockdep", INCONSISTENT.format("ld_ioctl"))
    assert "{IN-HARDIRQ-W} -> {HARDIRQ-ON-W}" in f.message
    assert f.site is not None and f.site.line == lab.paths[0].read_text().splitlines().index(
        "    spin_unlock_irq(t)") + 1


def test_nested_irqsave_sections_restore_the_state_each_saved(lab):
    k = ld(lab, """
flags = spin_lock_irqsave(s)
inner = spin_lock_irqsave(t)
spin_unlock_irqrestore(t, inner)
got.append(irqs_disabled())
spin_unlock_irqrestore(s, flags)
got.append(irqs_disabled())
""", handler=LOCK_S)
    run(lab, k, ["irq", 1, 1])
    assert k.findings == [], lab.dmesg()
    assert lab.ns("ld")["got"] == [True, False, True, False]


def test_an_irq_handler_that_turns_irqs_on_is_warned_at_the_unlock(lab):
    k = ld(lab, handler="spin_lock_irq(s)\nspin_unlock_irq(s)")
    run(lab, k, ["irq"])
    f = lab.finding()
    assert (f.kind, f.title) == ("warning", "WARNING: irq handler enabled interrupts in ld_irq")
    assert f.message == "irq 9 handler ld_irq enabled interrupts"


# -- context per task: work runs on a kworker ---------------------------------------------------------
def test_a_lock_held_while_flushing_work_is_not_the_work_items(lab):
    lab.device("fw", """
        m = mutex_init()
        n = mutex_init()


        def fw_work(work):
            mutex_lock(n)
            mutex_unlock(n)


        w = INIT_WORK(fw_work)


        def fw_ioctl(file, cmd, arg):
            schedule_work(w)
            mutex_lock(m)
            flush_work(w)
            mutex_unlock(m)
            return 0
    """)
    k = lab.boot()
    lab.insmod("fw")
    lab.ioctl("fw")
    assert k.findings == [], lab.dmesg()


def test_work_flushed_from_work_runs_on_another_kworker(lab):
    lab.device("fw", """
        m = mutex_init()
        n = mutex_init()


        def fw_inner(work):
            mutex_lock(n)
            mutex_unlock(n)


        inner = INIT_WORK(fw_inner)


        def fw_outer(work):
            mutex_lock(m)
            schedule_work(inner)
            flush_work(inner)
            mutex_unlock(m)


        outer = INIT_WORK(fw_outer)


        def fw_ioctl(file, cmd, arg):
            return schedule_work(outer)
    """)
    k = lab.boot()
    lab.insmod("fw")
    lab.ioctl("fw")
    k.do("tick", 1)
    assert k.findings == [], lab.dmesg()


def test_a_work_item_that_keeps_a_lock_is_reported_from_its_kworker(lab):
    lab.device("fw", """
        n = mutex_init()


        def fw_work(work):
            mutex_lock(n)


        w = INIT_WORK(fw_work)


        def fw_ioctl(file, cmd, arg):
            return schedule_work(w)
    """)
    k = lab.boot()
    lab.insmod("fw")
    lab.ioctl("fw")
    k.do("tick", 1)
    f = lab.finding()
    assert f.title == "BUG: workqueue leaked lock in fw_work"
    assert "BUG: workqueue leaked atomic, lock or RCU: kworker/0:1[2]" in f.message
    assert "1 lock held by kworker/0:1/2:\n #0: (n){+.+.}-{4:4}, at: fw_work fw.py:" in f.message
    assert "PID: 2 Comm: kworker/0:1" in lab.dmesg()
    assert k.task is k.user and not k.kworker.held
