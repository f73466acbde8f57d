"""Tasks and the deterministic scheduler: operations run together (`together` groups),
block for real, and replay exactly from their schedule."""

from __future__ import annotations

import pytest

from kfuzz.kernel.sched import Drawn, Preempt
from kfuzz.prog import Group, ProgramError, parse_op, parse_program, run_program
from kfuzz.prog.session import KernelSession

RACE = """
lock = mutex_init()


def log(what):
    print(f"rclog {what!r}")


wq = init_waitqueue_head()
state = {"ready": False}
done = init_completion()
sem = sema_init(0)


def rc_ioctl(file, cmd, arg):
    if cmd == 1:
        mutex_lock(lock)
        log("a-in")
        msleep(10)
        log(("a-out", jiffies()))
        mutex_unlock(lock)
    if cmd == 2:
        mutex_lock(lock)
        log(("b", jiffies()))
        mutex_unlock(lock)
    if cmd == 3:
        return wait_event_interruptible(wq, lambda: state["ready"])
    if cmd == 4:
        state["ready"] = True
        wake_up_interruptible(wq)
    if cmd == 5:
        state["ready"] = True  # and no wake_up: the waiter sleeps on
    if cmd == 6:
        return mutex_lock_interruptible(lock)
    if cmd == 7:
        mutex_lock(lock)
        msleep(50)
        mutex_unlock(lock)
    if cmd == 8:
        wait_for_completion(done)
        log("completed")
    if cmd == 9:
        complete(done)
    if cmd == 10:
        down(sem)
        log("down")
    if cmd == 11:
        up(sem)
    if cmd == 12:
        return wait_event_interruptible_timeout(wq, lambda: state["ready"], 5)
    if cmd == 13:
        if mutex_lock_interruptible(lock):
            return -EINTR
        mutex_unlock(lock)
    if cmd == 14:
        wait_event(wq, lambda: state["ready"])
    if cmd in (15, 16, 18):  # the open-coded wait, as yurex_write's
        wait = DEFINE_WAIT()
        prepare_to_wait(wq, wait, TASK_UNINTERRUPTIBLE if cmd == 16 else TASK_INTERRUPTIBLE)
        if cmd == 18:
            wake_up_interruptible(wq)  # the wake-up comes before the sleep
        left = schedule_timeout(20)
        finish_wait(wq, wait)
        log(("prepared", left, jiffies(), waitqueue_active(wq)))
        return left
    if cmd == 17:
        wake_up(wq)
    if cmd == 19:
        return schedule_timeout(3)  # no prepare_to_wait: it sleeps its time, as before
    return 0
"""


def run(lab, body: str):  # noqa: ANN001, ANN201
    lab.device("rc", RACE)
    prog = parse_program(f"# modules: {lab.paths[0]}\ninsmod rc\nopen /dev/rc -> fd0\n{body}",
                         base_dir=lab.root)
    session = KernelSession(lab_index(lab))
    outcome = session.run(prog)
    return outcome, session


def lab_index(lab):  # noqa: ANN001, ANN201
    from kfuzz.kernel import ModuleIndex
    return ModuleIndex.scan(lab.paths)


def group(*cmds: int, schedule: str = "") -> str:
    lines = ["together", *(f"  t{n}: ioctl fd0 {c} 0" for n, c in enumerate(cmds, 1))]
    if schedule:
        lines.append(f"schedule: {schedule}")
    return "\n".join(lines) + "\n"


def log_of(session: KernelSession) -> list[object]:
    """What the module logged, in order (its `log()` lines in dmesg)."""
    import ast
    return [ast.literal_eval(line.split("rclog ", 1)[1]) for line in session.dmesg() if "rclog " in line]


def test_default_order_runs_a_task_until_it_blocks_then_the_lowest_runnable(lab) -> None:  # noqa: ANN001
    outcome, session = run(lab, group(1, 2))
    assert outcome.finding is None, outcome.dmesg
    # t1 sleeps holding the lock; t2 blocks on it; time jumps to t1's wake-up (msleep(10):
    # msecs_to_jiffies(10) + 1 = 2 jiffies); t1 lets go; t2 takes the lock
    assert log_of(session) == ["a-in", ("a-out", 2), ("b", 2)]
    assert outcome.results[-1].result == [0, 0]


def test_a_preemption_runs_the_other_task_first_and_is_recorded(lab) -> None:  # noqa: ANN001
    outcome, session = run(lab, group(1, 2, schedule="t1 at mutex_lock -> t2"))
    assert outcome.finding is None
    assert log_of(session) == [("b", 0), "a-in", ("a-out", 2)]
    assert outcome.results[-1].schedule == ("t1 at mutex_lock -> t2",)


def test_a_preemption_that_never_fires_is_ignored(lab) -> None:  # noqa: ANN001
    outcome, session = run(lab, group(1, 2, schedule="t1 at kfree#3 -> t2, t2 at msleep -> t1"))
    assert outcome.finding is None
    assert log_of(session) == ["a-in", ("a-out", 2), ("b", 2)]
    assert outcome.results[-1].schedule == ()


def test_a_wake_up_ends_a_wait(lab) -> None:  # noqa: ANN001
    outcome, _ = run(lab, group(3, 4))
    assert outcome.finding is None
    assert outcome.results[-1].result == [0, 0]


def test_a_waiter_nobody_wakes_is_a_deadlock_hang_with_each_tasks_stack(lab) -> None:  # noqa: ANN001
    outcome, _ = run(lab, group(14, 5))
    finding = outcome.finding
    assert finding is not None and (finding.kind, finding.title) == ("hang", "INFO: task hung in rc_ioctl")
    assert "every task is blocked and nothing can wake one" in finding.message
    assert "wait_event" in finding.message and "(t1)" in finding.message
    assert "rc.py" in finding.message


def test_a_serial_wait_nothing_can_end_is_a_hang(lab) -> None:  # noqa: ANN001
    outcome, _ = run(lab, "ioctl fd0 14 0\n")
    assert outcome.finding is not None and outcome.finding.title == "INFO: task hung in rc_ioctl"


def test_an_interruptible_wait_nothing_can_end_is_interrupted_not_a_hang(lab) -> None:  # noqa: ANN001
    """As Ctrl-C ends a read waiting for data that never comes: only uninterruptible
    sleepers are hung (kernel/hung_task.c)."""
    outcome, _ = run(lab, "ioctl fd0 3 0\n" + group(3, 5))
    assert outcome.finding is None, outcome.dmesg
    assert [r.result for r in outcome.results[-2:]] == ["-EINTR", ["-EINTR", 0]]


def test_a_wait_with_a_timeout_ends_when_time_passes(lab) -> None:  # noqa: ANN001
    outcome, session = run(lab, "ioctl fd0 12 0\n")
    assert outcome.finding is None, outcome.dmesg
    assert outcome.results[-1].result == 0  # timed out, the condition still false
    assert session.kernel.jiffies == 5


def test_a_signal_ends_an_interruptible_wait_with_eintr(lab) -> None:  # noqa: ANN001
    outcome, _ = run(lab, "together\n  t1: ioctl fd0 3 0\n  t2: kill t1\n")
    assert outcome.finding is None, outcome.dmesg
    assert outcome.results[-1].result == ["-EINTR", 0]  # -ERESTARTSYS: user space sees EINTR


def test_prepare_to_wait_then_schedule_timeout_sleeps_until_a_wake_up_of_the_queue(lab) -> None:  # noqa: ANN001
    """kernel/sched/wait.c prepare_to_wait, kernel/time/sleep_timeout.c schedule_timeout:
    the jiffies left when a wake-up ends the sleep, 0 on the timeout; finish_wait takes
    the entry off the queue whichever way it ended."""
    outcome, session = run(lab, group(15, 4))
    assert outcome.finding is None, outcome.dmesg
    assert outcome.results[-1].result == [20, 0]
    assert log_of(session) == [("prepared", 20, 0, False)]
    outcome, session = run(lab, "ioctl fd0 15 0\n")
    assert outcome.finding is None, outcome.dmesg
    assert outcome.results[-1].result == 0
    assert log_of(session) == [("prepared", 0, 20, False)]


def test_a_prepared_wait_ends_at_once_when_the_wake_up_came_first(lab) -> None:  # noqa: ANN001
    outcome, session = run(lab, "ioctl fd0 18 0\n")
    assert outcome.finding is None, outcome.dmesg
    assert log_of(session) == [("prepared", 20, 0, False)]


def test_a_prepared_wait_is_woken_as_its_state_says(lab) -> None:  # noqa: ANN001
    """wake_up_interruptible wakes TASK_INTERRUPTIBLE only; wake_up both; a signal ends
    only an interruptible sleep (with the jiffies left, as schedule_timeout returns)."""
    outcome, _ = run(lab, group(16, 4))
    assert outcome.results[-1].result == [0, 0]
    outcome, _ = run(lab, group(16, 17))
    assert outcome.results[-1].result == [20, 0]
    outcome, _ = run(lab, "together\n  t1: ioctl fd0 15 0\n  t2: kill t1\n")
    assert outcome.results[-1].result == [20, 0]
    outcome, _ = run(lab, "together\n  t1: ioctl fd0 16 0\n  t2: kill t1\n")
    assert outcome.results[-1].result == [0, 0]
    outcome, session = run(lab, "ioctl fd0 15 0\nioctl fd0 19 0\n")
    assert outcome.finding is None, outcome.dmesg
    assert outcome.results[-1].result == 0 and session.kernel.jiffies == 23


def test_mutex_lock_interruptible_is_eintr_only_when_it_must_wait(lab) -> None:  # noqa: ANN001
    # contended, then a signal: -EINTR
    outcome, _ = run(lab, group(7, 13) + "")
    assert outcome.results[-1].result == [0, 0]  # no signal: it waits, then takes the lock
    outcome, _ = run(lab, "together\n  t1: ioctl fd0 7 0\n  t2: ioctl fd0 13 0\n  t3: kill t2\n")
    assert outcome.results[-1].result == [0, "-EINTR", 0]
    # uncontended with a signal pending: the fast path takes the lock
    outcome, _ = run(lab, "together\n  t1: kill t2\n  t2: ioctl fd0 13 0\n")
    assert outcome.results[-1].result == [0, 0]


def test_completions_and_semaphores_wait_for_the_other_side(lab) -> None:  # noqa: ANN001
    outcome, session = run(lab, group(8, 9) + group(10, 11))
    assert outcome.finding is None, outcome.dmesg
    assert log_of(session) == ["completed", "down"]


def test_msleep_in_a_serial_program_lets_the_clock_run_timers(lab) -> None:  # noqa: ANN001
    lab.device("sl", """
fired = []
def sl_timer(t):
    fired.append(jiffies())
timer = None
def sl_ioctl(file, cmd, arg):
    global timer
    timer = timer or timer_setup(sl_timer)
    mod_timer(timer, jiffies() + 3)
    msleep(100)
    return jiffies()
def sl_release(inode, file):
    del_timer_sync(timer)
    return 0
""")
    prog = parse_program(f"# modules: {lab.paths[-1]}\ninsmod sl\nopen /dev/sl -> fd0\nioctl fd0 0 0\n",
                         base_dir=lab.root)
    outcome = run_program(prog)
    assert outcome.finding is None, outcome.dmesg
    assert outcome.results[-1].result == 11  # msecs_to_jiffies(100) + 1


def test_groups_print_back_as_written_and_replay_exactly(lab) -> None:  # noqa: ANN001
    text = group(1, 2, schedule="t1 at mutex_lock -> t2")
    lab.device("rc", RACE)
    prog = parse_program(f"# modules: {lab.paths[0]}\ninsmod rc\nopen /dev/rc -> fd0\n{text}",
                         base_dir=lab.root)
    assert prog.format().endswith(text)
    line = prog.ops[-1]
    assert isinstance(line, Group) and line.schedule == (Preempt(1, "mutex_lock", 1, 2),)
    logs = []
    for _ in range(3):
        session = KernelSession(lab_index(lab))
        session.run(prog)
        logs.append(list(log_of(session)))
    assert logs == [logs[0]] * 3


def stepped(lab, body: str) -> tuple[KernelSession, object]:  # noqa: ANN001
    """A session stepped through loading module rc (BODY) and opening fd0, as the fuzzer
    steps one, and that program."""
    lab.device("rc", body)
    prog = parse_program(f"# modules: {lab.paths[0]}\ninsmod rc\nopen /dev/rc -> fd0\n", base_dir=lab.root)
    session = KernelSession(lab_index(lab))
    session.begin({})
    for op in prog.ops:
        session.step(op)
    return session, prog


def test_drawn_preemptions_come_back_as_the_schedule_that_fired(lab) -> None:  # noqa: ANN001
    session, _ = stepped(lab, RACE)
    drawn = Group(tasks=(parse_op("ioctl fd0 1 0"), parse_op("ioctl fd0 2 0")), drawn=(Drawn(1, 1, 2),))
    reply = session.step(drawn)
    assert reply.fired == (Preempt(1, "mutex_lock", 1, 2),)


@pytest.mark.parametrize(("text", "lineno", "error"), [
    ("together\n  t1: ioctl fd0 1 0\n", 4, "'together' takes 2 to 3 task lines"),
    ("together\n  t2: ioctl fd0 1 0\n  t1: ioctl fd0 1 0\n", 5, "task 't2' out of order"),
    ("together\n  t1: ioctl fd0 1 0\n  t2: ioctl fd0 1 0\nschedule: t1 at -> t2\n", 7, "bad preemption"),
    ("together\n  t1: ioctl fd0 1 0\n  t2: ioctl fd0 1 0\nschedule: t1 at msleep -> t5\n", 7,
     "'t5' is not a task of this group"),
    ("kill t1\n", 4, "'kill' is only for a task of a 'together' group"),
    ("together\n  t1: open /dev/rc -> fd1\n  t2: open /dev/rc -> fd1\n", 4,
     "two tasks of the group bind 'fd1'"),
    ("together\n  t1: open /dev/rc -> fd1\n  t2: close fd1\n", 6, "'fd1' is not defined"),
])
def test_a_bad_group_is_an_error_naming_the_line(lab, text: str, lineno: int, error: str) -> None:  # noqa: ANN001
    lab.device("rc", RACE)
    with pytest.raises(ProgramError) as err:
        parse_program(f"# modules: {lab.paths[0]}\ninsmod rc\nopen /dev/rc -> fd0\n{text}",
                      base_dir=lab.root, where="race.kfz")
    assert str(err.value).startswith(f"race.kfz:{lineno}: ") and error in str(err.value)


KC = """
st = None
lock = spin_lock_init()


def kc_setup():
    global st
    st = kzalloc(16)
    return 0 if st is not None else -ENOMEM


def kc_release(inode, file):  # the tests open one file: its release frees the state
    kfree(st)
    return 0


def kc_ioctl(file, cmd, arg):
    if cmd == 1:          # plain, unlocked: a data race with another task's cmd 1
        n = st.count
        mutex_lock(file_lock)
        mutex_unlock(file_lock)
        st.count = n + 1
    if cmd == 2:          # the same under a lock: ordered
        spin_lock(lock)
        st.count += 1
        spin_unlock(lock)
    if cmd == 3:          # an intended race, marked
        WRITE_ONCE(st, "count", READ_ONCE(st, "count") + 1)
    if cmd >= 4:          # a slot of the buffer's bytes of its own: slot 0 (bytes 0..7) or 1
        slot = (cmd - 4) * 8
        n = st[slot]
        mutex_lock(file_lock)
        mutex_unlock(file_lock)
        st[slot:slot + 2] = bytes([n + 1, 0])
    return 0


file_lock = mutex_init()
"""


@pytest.mark.parametrize(("cmd", "raced"), [(1, True), (2, False), (3, False)])
def test_kcsan_reports_unordered_plain_accesses_only(lab, cmd: int, raced: bool) -> None:  # noqa: ANN001
    lab.device("kc", KC)
    prog = parse_program(f"# modules: {lab.paths[-1]}\ninsmod kc\nopen /dev/kc -> fd0\n"
                         f"together\n  t1: ioctl fd0 {cmd} 0\n  t2: ioctl fd0 {cmd} 0\n"
                         "schedule: t1 at mutex_lock -> t2\n", base_dir=lab.root)
    outcome = run_program(prog)
    if not raced:
        assert outcome.finding is None, outcome.finding
        return
    finding = outcome.finding
    assert finding is not None
    assert (finding.kind, finding.title) == ("data-race", "KCSAN: data-race in kc_ioctl / kc_ioctl")
    assert "read to field 'count'" in finding.message and "write to field 'count'" in finding.message


@pytest.mark.parametrize(("slots", "raced"), [((4, 4), True), ((4, 5), False)])
def test_kcsan_watches_bytes_a_word_at_a_time(lab, slots: tuple[int, int], raced: bool) -> None:  # noqa: ANN001
    # two slots of one buffer are two locations, as two words are to KCSAN's watchpoints
    lab.device("kc", KC)
    prog = parse_program(f"# modules: {lab.paths[-1]}\ninsmod kc\nopen /dev/kc -> fd0\n"
                         f"together\n  t1: ioctl fd0 {slots[0]} 0\n  t2: ioctl fd0 {slots[1]} 0\n"
                         "schedule: t1 at mutex_lock -> t2\n", base_dir=lab.root)
    finding = run_program(prog).finding
    if not raced:
        assert finding is None, finding
        return
    assert finding is not None and finding.title == "KCSAN: data-race in kc_ioctl / kc_ioctl"
    assert "read to field 'bytes 0..7'" in finding.message
    assert "write to field 'bytes 0..7'" in finding.message


def test_kcsan_is_off_with_the_kernel_setting(lab) -> None:  # noqa: ANN001
    lab.device("kc", KC)
    prog = parse_program(f"# modules: {lab.paths[-1]}\n# kernel: kcsan=0\ninsmod kc\nopen /dev/kc -> fd0\n"
                         "together\n  t1: ioctl fd0 1 0\n  t2: ioctl fd0 1 0\n"
                         "schedule: t1 at mutex_lock -> t2\n", base_dir=lab.root)
    assert run_program(prog).finding is None


NB = """
def nb_read(file, count):
    if file.f_flags & O_NONBLOCK:
        return -EAGAIN           # nothing to read yet, and the caller will not wait
    return wait_event_interruptible(wq, lambda: False)


def nb_write(file, data):
    return len(data)


wq = init_waitqueue_head()
"""


def test_open_flags_reach_the_driver_and_the_access_mode_is_enforced(lab) -> None:  # noqa: ANN001
    lab.device("nb", NB)
    prog = parse_program(f"# modules: {lab.paths[-1]}\ninsmod nb\n"
                         "open /dev/nb O_RDONLY|O_NONBLOCK -> fd0\nread fd0 4\nwrite fd0 \"x\"\n"
                         "open /dev/nb O_WRONLY -> fd1\nwrite fd1 \"x\"\nread fd1 4\n"
                         "open /dev/nb -> fd2\nwrite fd2 \"x\"\n"
                         "together\n  t1: read fd2 4\n  t2: kill t1\n", base_dir=lab.root)
    assert prog.format().splitlines()[2] == "open /dev/nb O_RDONLY|O_NONBLOCK -> fd0"
    outcome = run_program(prog)
    assert outcome.finding is None, outcome.dmesg
    # O_NONBLOCK: -EAGAIN; a read-only file is not written (vfs_write: -EBADF), a write-only
    # one not read; no flags is O_RDWR; a blocking read ends with the signal
    assert [r.result for r in outcome.results[2:]] == ["-EAGAIN", "-EBADF", "fd1", 1, "-EBADF", "fd2", 1,
                                                       ["-EINTR", 0]]


UNLOCK_THEN_LOG = """
lock = mutex_init()


def log(what):
    print(f"rclog {what!r}")


def rc_ioctl(file, cmd, arg):
    if cmd == 1:
        mutex_lock(lock)
        might_sleep()
        mutex_unlock(lock)
        log("a after unlock")
    if cmd == 2:
        mutex_lock(lock)
        log("b")
        mutex_unlock(lock)
"""


def test_a_task_a_drawn_preemption_demotes_yields_to_the_task_it_woke(lab) -> None:  # noqa: ANN001
    # PCT: t1, preempted at might_sleep holding the mutex, drops below t2; t2 blocks on
    # the mutex; t1's unlock wakes it, and t2 runs at once, before t1 goes on
    session, prog = stepped(lab, UNLOCK_THEN_LOG)
    tasks = (parse_op("ioctl fd0 1 0"), parse_op("ioctl fd0 2 0"))
    reply = session.step(Group(tasks=tasks, drawn=(Drawn(1, 2, 2),)))
    assert reply.fired == (Preempt(1, "might_sleep", 1, 2), Preempt(1, "mutex_unlock", 1, 2))
    assert list(log_of(session)) == ["b", "a after unlock"]

    def replay(schedule: tuple[Preempt, ...]) -> list[object]:
        replayed = KernelSession(lab_index(lab))
        text = prog.format() + Group(tasks=tasks, schedule=schedule).format() + "\n"
        replayed.run(parse_program(text, base_dir=lab.root))
        return list(log_of(replayed))

    assert replay(reply.fired) == ["b", "a after unlock"], "the schedule that fired replays it, no priorities"
    assert replay(reply.fired[:1]) == ["a after unlock", "b"], "without the demotion t1 runs on"
