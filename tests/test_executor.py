"""The kernel worker: module code runs only in it, it is reused across test cases,
and it is replaced, with a `hang` or `crash` finding, when module code stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from kfuzz.executor.worker import GRACE, ForkExecutor
from kfuzz.kernel import ModuleIndex
from kfuzz.prog import KernelSession, Op, parse_op, parse_program
from kfuzz.prog.session import WALL_FACTOR

BODY = """
import os, signal

def w_ioctl(file, cmd, arg):
    if cmd == 1:
        return os.getpid()
    if cmd == 2:
        while True:
            pass
    if cmd == 3:
        os._exit(7)
    if cmd == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    if cmd == 5:
        hog = [bytearray(16 << 20) for _ in range(256)]  # the limit is met in a few steps
        return len(hog)
    if cmd == 6:
        print("w: hello from module code")
        return 0
    if cmd == 7:
        return sum(range(10**13))  # C code: the timer signal cannot cut in
    if cmd == 8:
        print("w: last words before the crash")
        os._exit(7)
    if cmd == 9:
        return sum(range(5_000_000)) & 1  # about 60 ms of honest work
    if cmd == 10:
        import time
        time.sleep(3600)  # waits for what never comes: no CPU used
    return -ENOTTY
"""

OPEN = parse_op("open /dev/w -> fd0")


def ioctl(cmd: int) -> Op:
    return parse_op(f"ioctl fd0 {cmd} 0")


@pytest.fixture
def worker(lab):  # noqa: ANN001, ANN201
    lab.device("w", BODY)
    executor = ForkExecutor(ModuleIndex.scan(lab.paths), op_timeout=0.3, memory_mb=64)
    yield executor
    executor.close()


def case(executor: ForkExecutor, *ops: Op) -> list:
    """One test case in a fresh kernel: the replies of its operations and of the clean-up."""
    executor.begin({})
    replies = [executor.step(op) for op in (parse_op("insmod w"), OPEN, *ops)]
    return replies + [executor.end()]


def test_module_code_runs_in_a_worker_reused_across_test_cases(worker: ForkExecutor) -> None:
    pids = {case(worker, ioctl(1))[2].result for _ in range(5)}
    assert len(pids) == 1
    assert int(pids.pop()) != os.getpid()
    assert worker.restarts == 0


def test_each_test_case_gets_a_fresh_kernel(worker: ForkExecutor) -> None:
    first = case(worker)
    second = case(worker)
    assert first[0].result == second[0].result == 0  # insmod again: not -EEXIST
    assert [r.finding for r in first + second] == [None] * len(first + second)


def test_a_hang_is_a_finding_and_the_worker_is_replaced(worker: ForkExecutor) -> None:
    pid = case(worker, ioctl(1))[2].result
    replies = case(worker, ioctl(2))
    finding = replies[2].finding
    assert (finding.kind, finding.title) == ("hang", "INFO: task hung in w_ioctl")
    assert worker.restarts == 1
    after = case(worker, ioctl(1))
    assert after[2].result != pid and after[2].finding is None


@pytest.mark.parametrize(("cmd", "title"), [
    (3, "kernel process exited with code 7 in w_ioctl"),
    (4, "kernel process killed by SIGKILL in w_ioctl"),
])
def test_a_dead_worker_is_a_crash_finding(worker: ForkExecutor, cmd: int, title: str) -> None:
    finding = case(worker, ioctl(cmd))[2].finding
    assert (finding.kind, finding.title, finding.module) == ("crash", title, "w")
    assert case(worker, ioctl(1))[2].finding is None  # a new worker serves the next case


def test_memory_beyond_the_workers_limit_is_a_crash(worker: ForkExecutor) -> None:
    finding = case(worker, ioctl(5))[2].finding
    assert finding is not None and finding.kind == "crash", finding
    assert finding.title == "kernel process out of memory in w_ioctl"


def test_module_output_goes_to_the_kernel_log_not_the_terminal(worker: ForkExecutor, lab, capfd) -> None:  # noqa: ANN001
    prog = parse_program(f"# modules: {lab.paths[0]}\ninsmod w\nopen /dev/w -> fd0\nioctl fd0 6 0\n")
    outcome = worker.run(prog)
    assert outcome.finding is None
    assert any("w: hello from module code" in line for line in outcome.dmesg)
    out, err = capfd.readouterr()
    assert "hello" not in out + err


def test_a_hang_the_timer_signal_cannot_cut_is_bounded_too(worker: ForkExecutor, lab) -> None:  # noqa: ANN001
    finding = case(worker, ioctl(7))[2].finding
    assert (finding.kind, finding.title) == ("hang", "INFO: task hung in w_ioctl")
    prog = parse_program(f"# modules: {lab.paths[0]}\ninsmod w\nopen /dev/w -> fd0\nioctl fd0 7 0\n")
    started = time.monotonic()
    outcome = worker.run(prog)
    assert outcome.finding is not None and outcome.finding.kind == "hang"
    # the replay's bound: the stuck operation's wall-clock bound, plus the parent's grace
    assert time.monotonic() - started < worker.op_timeout * WALL_FACTOR + GRACE + 2


@pytest.fixture
def loaded_cores() -> Iterator[None]:
    """Other work on every core, eight busy processes a core, as on a busy shared machine."""
    hogs = [subprocess.Popen([sys.executable, "-c", "print('busy', flush=True)\nwhile True: pass"],
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
            for _ in range(8 * (os.cpu_count() or 1))]  # each its own session, as other jobs are
    try:
        for hog in hogs:  # each is spinning before the test begins
            assert hog.stdout is not None and hog.stdout.readline() == "busy\n"
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_a_starved_worker_is_slow_not_hung(lab, loaded_cores) -> None:  # noqa: ANN001
    # a hang is CPU time past the timeout, as the soft-lockup watchdog counts it: a
    # worker that waits for a core is not hung, however long the wall clock says
    lab.device("w", BODY)
    executor = ForkExecutor(ModuleIndex.scan(lab.paths), op_timeout=0.2)
    try:
        findings = [r.finding for _ in range(5) for r in case(executor, ioctl(9))]
    finally:
        executor.close()
    assert [f.title for f in findings if f is not None] == []


def test_a_sleep_that_never_returns_is_a_hang_on_the_wall_clock(worker: ForkExecutor) -> None:
    finding = case(worker, ioctl(10))[2].finding
    assert finding is not None and (finding.kind, finding.title) == ("hang", "INFO: task hung in w_ioctl")
    assert f"blocked for more than {worker.op_timeout * WALL_FACTOR:g} seconds" in finding.message


def test_a_crash_keeps_the_kernel_log_and_names_the_operation_in_flight(worker: ForkExecutor, lab) -> None:  # noqa: ANN001
    # as pstore keeps a dying kernel's log: the lines written during the fatal
    # operation survive the worker, in a fuzzing step and in a replay alike
    finding = case(worker, ioctl(8))[2].finding
    assert finding is not None and finding.title == "kernel process exited with code 7 in w_ioctl"
    assert "during 'ioctl fd0 8 0'" in finding.message
    prog = parse_program(f"# modules: {lab.paths[0]}\ninsmod w\nopen /dev/w -> fd0\nioctl fd0 8 0\n")
    outcome = worker.run(prog)
    assert outcome.finding is not None and outcome.finding.title == finding.title
    assert "during 'ioctl fd0 8 0'" in outcome.finding.message
    assert any("w: last words before the crash" in line for line in outcome.dmesg), outcome.dmesg
    assert any("w: " in line and "taint" in line for line in outcome.dmesg)  # from insmod, earlier


def test_one_timer_tells_a_busy_loop_from_a_sleep_and_stops_with_the_case(lab) -> None:  # noqa: ANN001
    """One ITIMER_REAL an operation: at the timeout, user CPU time past it is a soft lockup;
    a sleep is re-armed until the wall clock's bound; the test case's end stops it."""
    lab.device("w", BODY)
    session = KernelSession(ModuleIndex.scan(lab.paths), op_timeout=0.2)

    def run(*lines: str):  # noqa: ANN202
        return session.run(parse_program(f"# modules: {lab.paths[0]}\ninsmod w\nopen /dev/w -> fd0\n"
                                         + "".join(f"{line}\n" for line in lines)))

    busy = run("ioctl fd0 2 0").finding
    assert busy is not None and busy.title == "INFO: task hung in w_ioctl"
    assert "soft lockup" in busy.message
    started = time.monotonic()
    asleep = run("ioctl fd0 10 0").finding
    assert asleep is not None and "blocked for more than 2 seconds" in asleep.message
    assert time.monotonic() - started >= 0.2 * WALL_FACTOR
    assert run("ioctl fd0 9 0", "ioctl fd0 1 0").finding is None
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no alarm left for the process
    # a session with no timeout leaves a caller's own timer running
    old = signal.signal(signal.SIGALRM, lambda signum, frame: None)
    signal.setitimer(signal.ITIMER_REAL, 60)
    try:
        untimed = KernelSession(ModuleIndex.scan(lab.paths))
        prog = parse_program(f"# modules: {lab.paths[0]}\ninsmod w\nopen /dev/w -> fd0\nioctl fd0 1 0\n")
        assert untimed.run(prog).finding is None
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
