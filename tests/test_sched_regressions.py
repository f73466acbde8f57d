"""Correct concurrent code stays clean, and what is wrong is found: one case per problem a
review of the scheduler found (each failed before its fix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfuzz.kernel import ModuleIndex
from kfuzz.prog import Group, Outcome, parse_op, parse_program
from kfuzz.prog.session import KernelSession

RV = """
st = {}
done = init_completion()
sem = sema_init(0)
wq = init_waitqueue_head()
lock = mutex_init()


def rv_work(w):
    st["s"].x = 1
    complete(done)


def rv_sleepy_work(w):
    msleep(1000)


def rv_timer(t):
    st["s"].x = 1
    kfree(kzalloc(8, GFP_ATOMIC))


def rv_periodic(t):
    mod_timer(t, jiffies() + 10)


def rv_put(kref):
    pr_info(f"rv: {st['s'].count} puts")


work = INIT_WORK(rv_work)
sleepy = INIT_WORK(rv_sleepy_work)
timer = timer_setup(rv_timer)
periodic = timer_setup(rv_periodic)


def rv_setup():
    s = kzalloc(16)
    if s is None:
        return -ENOMEM
    s.x = s.count = 0
    s.ref = kref_init()
    st["s"] = s
    return 0


def rv_ioctl(file, cmd, arg):
    s = st["s"]
    if cmd == 1:                      # queue work, then wait for it: a kworker runs it
        reinit_completion(done)
        schedule_work(work)
        wait_for_completion(done)
    if cmd == 2:                      # a waiter nobody wakes, a periodic timer armed
        mod_timer(periodic, jiffies() + 10)
        wait_event(wq, lambda: False)
    if cmd == 3:
        schedule_work(sleepy)
    if cmd == 4:
        return jiffies()
    if cmd == 5:                      # written without a lock
        s.x = 2
    if cmd == 6:
        mutex_lock(lock)
        v = s.x
        mutex_unlock(lock)
        return v
    if cmd == 7:
        mutex_lock(lock)
        s.x = 1
        mutex_unlock(lock)
    if cmd == 8:
        kref_get(s.ref)
    if cmd == 9:                      # written under the lock, then a put that is not the last
        mutex_lock(lock)
        s.count += 1
        mutex_unlock(lock)
        kref_put(s.ref, rv_put)
    if cmd == 10:                     # the last put: its release reads what 9 wrote
        kref_put(s.ref, rv_put)
    if cmd == 11:
        mod_timer(timer, jiffies() + 1)
    if cmd == 12:                     # the callback is over once del_timer_sync returns
        del_timer_sync(timer)
        s.x = 3
    if cmd == 13:
        s.x = 1
        up(sem)
    if cmd == 14:
        if down_trylock(sem) == 0:
            return s.x
        return -EAGAIN
    if cmd == 15:
        return wait_event_timeout(wq, lambda: False, 0)
    return 0


def rv_release(inode, file):
    kfree(st["s"])
    return 0
"""


def run(lab, body: str, module: str = RV, name: str = "rv") -> Outcome:  # noqa: ANN001
    lab.device(name, module)
    prog = parse_program(f"# modules: {lab.paths[-1]}\ninsmod {name}\nopen /dev/{name} -> fd0\n{body}",
                         base_dir=lab.root)
    return KernelSession(ModuleIndex.scan(lab.paths), op_timeout=5).run(prog)


def results(outcome: Outcome) -> list[object]:
    assert outcome.finding is None, (outcome.finding.title, outcome.finding.message)
    return [r.result for r in outcome.results[2:]]


def test_a_task_waiting_for_work_it_queued_is_not_a_deadlock(lab) -> None:  # noqa: ANN001
    assert results(run(lab, "ioctl fd0 1 0\n")) == [0]


def test_a_periodic_timer_does_not_turn_a_deadlock_into_an_endless_loop(lab) -> None:  # noqa: ANN001
    outcome = run(lab, "ioctl fd0 2 0\n")
    finding = outcome.finding
    assert finding is not None and finding.title == "INFO: task hung in rv_ioctl", finding
    assert "every task is blocked" in finding.message


def test_the_clock_never_goes_back_when_work_a_tick_runs_sleeps(lab) -> None:  # noqa: ANN001
    assert results(run(lab, "ioctl fd0 3 0\ntick 1\nioctl fd0 4 0\n")) == [0, 0, 101]


def test_a_zero_timeout_does_not_sleep(lab) -> None:  # noqa: ANN001
    assert results(run(lab, "ioctl fd0 15 0\nioctl fd0 4 0\n")) == [0, 0]


def test_kcsan_forgets_the_clocks_of_an_earlier_group(lab) -> None:  # noqa: ANN001
    clean_first = "together\n  t1: ioctl fd0 7 0\n  t2: ioctl fd0 0 0\n"
    race = "together\n  t1: ioctl fd0 5 0\n  t2: ioctl fd0 6 0\n"
    finding = run(lab, clean_first + race).finding
    assert finding is not None and finding.title == "KCSAN: data-race in rv_ioctl / rv_ioctl"


@pytest.mark.parametrize(("setup", "group"), [
    # the last kref_put acquires what every earlier put released (include/linux/refcount.h)
    ("ioctl fd0 8 0\n", "together\n  t1: ioctl fd0 9 0\n  t2: ioctl fd0 10 0\n"),
    # del_timer_sync returns after the callback: its writes happen before
    ("ioctl fd0 11 0\n", "together\n  t1: tick 1\n  t2: ioctl fd0 12 0\nschedule: t1 at kfree -> t2\n"),
    # a down_trylock that got the semaphore sees what up() published
    ("", "together\n  t1: ioctl fd0 13 0\n  t2: ioctl fd0 14 0\n"),
])
def test_kcsan_sees_the_order_linux_gives(lab, setup: str, group: str) -> None:  # noqa: ANN001
    results(run(lab, setup + group))


LOADER = """
state = kzalloc(16)
msleep(10)


@module_init
def {name}_init():
    return 0


@module_exit
def {name}_exit():
    kfree(state)
"""


def test_two_module_bodies_that_sleep_load_together(lab) -> None:  # noqa: ANN001
    for name in ("lda", "ldb"):
        lab.module(name, LOADER.format(name=name))
    prog = parse_program(f"# modules: {lab.paths[0]} {lab.paths[1]}\n"
                         "together\n  t1: insmod lda\n  t2: insmod ldb\n", base_dir=lab.root)
    outcome = KernelSession(ModuleIndex.scan(lab.paths)).run(prog)
    assert outcome.finding is None and outcome.results[0].result == [0, 0], outcome.dmesg


PROC = """
pr_state = None


def pr_open(inode, file):
    return 0


def pr_release(inode, file):
    msleep(5)
    pr_state.opens += 1
    return 0


fops = FileOperations(owner=THIS_MODULE, open=pr_open, release=pr_release)


@module_init
def pr_init():
    global pr_state
    pr_state = kzalloc(16)
    if pr_state is None:
        return -ENOMEM
    return 0 if proc_create("prx", 0o444, fops) else -ENOMEM


@module_exit
def pr_exit():
    remove_proc_entry("prx")
    kfree(pr_state)
"""


def test_removing_a_proc_entry_waits_for_a_release_in_progress(lab) -> None:  # noqa: ANN001
    lab.module("pr", PROC)
    prog = parse_program(f"# modules: {lab.paths[0]}\ninsmod pr\nopen /proc/prx -> fd0\n"
                         "together\n  t1: close fd0\n  t2: rmmod pr\n", base_dir=lab.root)
    outcome = KernelSession(ModuleIndex.scan(lab.paths)).run(prog)
    assert outcome.finding is None, outcome.finding
    assert outcome.results[-1].result == [0, 0]


UNOWNED = """
def ua_ioctl(file, cmd, arg):
    msleep(10)
    return 0


fops = FileOperations(unlocked_ioctl=ua_ioctl)   # no owner: nothing pins the module
misc = MiscDevice(name="ua", fops=fops)


@module_init
def ua_init():
    return misc_register(misc)


@module_exit
def ua_exit():
    misc_deregister(misc)
"""


def test_code_that_sleeps_through_its_modules_unload_is_unloaded_code(lab) -> None:  # noqa: ANN001
    lab.module("ua", UNOWNED)
    prog = parse_program(f"# modules: {lab.paths[0]}\ninsmod ua\nopen /dev/ua -> fd0\n"
                         "together\n  t1: ioctl fd0 1 0\n  t2: rmmod ua\n", base_dir=lab.root)
    finding = KernelSession(ModuleIndex.scan(lab.paths)).run(prog).finding
    assert finding is not None
    assert (finding.kind, finding.title) == ("unloaded-code", "BUG: unable to handle page fault in ua_ioctl")


SLOW_OPEN = """
def mb_open(inode, file):
    msleep(10)
    return 0


fops = FileOperations(owner=THIS_MODULE, open=mb_open)
misc = MiscDevice(name="mb", fops=fops)


@module_init
def mb_init():
    return misc_register(misc)


@module_exit
def mb_exit():
    misc_deregister(misc)
"""

OWNED = """
fops = FileOperations(owner=THIS_MODULE)
misc = MiscDevice(name="ma", fops=fops)


@module_init
def ma_init():
    return misc_register(misc)


@module_exit
def ma_exit():
    misc_deregister(misc)
"""


def test_a_misc_open_takes_its_module_reference_under_misc_mtx(lab) -> None:  # noqa: ANN001
    # drivers/char/misc.c: fops_get under misc_mtx, so an open waiting for it holds no reference
    lab.module("mb", SLOW_OPEN)
    lab.module("ma", OWNED)
    prog = parse_program(f"# modules: {lab.paths[0]} {lab.paths[1]}\ninsmod ma\ninsmod mb\n"
                         "together\n  t1: open /dev/mb -> fd0\n  t2: open /dev/ma -> fd1\n  t3: rmmod ma\n",
                         base_dir=lab.root)
    outcome = KernelSession(ModuleIndex.scan(lab.paths)).run(prog)
    assert outcome.finding is None and outcome.results[-1].result == ["fd0", "-ENODEV", 0]


def test_a_group_less_a_task_loses_the_lines_that_used_what_it_bound() -> None:
    from kfuzz.fuzz.minimize import minimize

    group = Group(tasks=(parse_op("open /dev/x -> fd1"), parse_op("ioctl fd0 1 0"),
                         parse_op("ioctl fd0 2 0")))
    ops = [parse_op("open /dev/x -> fd0"), group, parse_op("read fd1 4")]

    def reproduces(candidate: list) -> bool:  # the bug needs the two ioctls at once
        groups = [op for op in candidate if isinstance(op, Group)]
        return bool(groups) and {t.format() for t in groups[0].tasks} >= {"ioctl fd0 1 0", "ioctl fd0 2 0"}

    out = minimize(ops, reproduces)
    text = "\n".join(op.format() for op in out)
    assert "read fd1" not in text and "open /dev/x -> fd1" not in text, text
    parse_program(text, base_dir=Path("."))  # what it prints reads back


def test_kernels_of_past_test_cases_are_freed() -> None:
    # an idle pooled greenlet once held its last kernel, and through it every kernel before
    import gc

    from kfuzz.kernel import Kernel

    def alive() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, Kernel))

    before = alive()
    for _ in range(50):
        Kernel(ModuleIndex.scan([])).do("tick", 0)
    assert alive() - before <= 1


def test_del_timer_sync_disarms_a_heartbeat_its_running_callback_rearms() -> None:
    # edu_pci's heartbeat re-arms itself; an unplug whose del_timer_sync waited for the
    # running callback, having disarmed the timer before, returned with it armed again,
    # and devm freed it: "ODEBUG: free active object" on a correct module (found by fuzzing)
    edu = Path(__file__).resolve().parent.parent / "target_modules" / "edu_pci.py"
    prog = parse_program(f"# modules: {edu}\nplug pci 1234:11e8 -> dev0\ntogether\n  t1: tick 100\n"
                         "  t2: unplug dev0\nschedule: t1 at spin_unlock_irqrestore -> t2\n")
    outcome = KernelSession(ModuleIndex.scan([edu]), op_timeout=5).run(prog)
    assert outcome.finding is None, (outcome.finding.title, outcome.finding.message)
    assert outcome.results[-1].schedule == ("t1 at spin_unlock_irqrestore -> t2",)  # the race ran


def test_edu_pci_cancels_the_work_an_interrupt_queued_during_a_probe_that_fails() -> None:
    # an interrupt between request_irq and a misc_register that fails queued the work;
    # the error path freed the IRQ but left the work pending in memory devm then freed
    # ("ODEBUG: free active object type: work_struct in edu_probe", found by fuzzing)
    edu = Path(__file__).resolve().parent.parent / "target_modules" / "edu_pci.py"
    prog = parse_program(f"# modules: {edu}\nplug pci 1234:11e8 -> dev0\nunbind dev0\ntogether\n"
                         "  t1: bind dev0 (fail_nth: 3)\n  t2: irq dev0\n"
                         "schedule: t1 at misc_register -> t2\n")
    outcome = KernelSession(ModuleIndex.scan([edu]), op_timeout=5).run(prog)
    assert outcome.finding is None, (outcome.finding.title, outcome.finding.message)
    assert outcome.results[-1].schedule == ("t1 at misc_register -> t2",)


POLL = """
lock = mutex_init()
polls = []


def pl_poll(work):
    mutex_lock(lock)
    polls.append(1)
    mutex_unlock(lock)
    schedule_work(work)  # polls again


work = INIT_WORK(pl_poll)


def pl_open(inode, file):
    schedule_work(work)
    return 0


def pl_release(inode, file):
    cancel_work_sync(work)
    return 0
"""


def test_a_work_that_queues_itself_again_is_idle_after_cancel_work_sync(lab) -> None:  # noqa: ANN001
    # queue_work fails while cancel_work_sync runs (WORK_OFFQ_CANCELING): the run it waits
    # for cannot leave its work pending, to run after the release (and after the unload)
    outcome = run(lab, "together\n  t1: tick 1\n  t2: close fd0\nschedule: t1 at mutex_lock -> t2\n"
                  "rmmod pl\n", POLL, "pl")
    assert results(outcome) == [[0, 0], 0]
    assert outcome.results[2].schedule == ("t1 at mutex_lock -> t2",)
