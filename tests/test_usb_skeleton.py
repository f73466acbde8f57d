"""target_modules/usb_skeleton.py, the port of Linux's drivers/usb/usb-skeleton.c:
its reads, writes, flush and teardown behave as the C driver's do, and what kfuzz
reports of it is what Linux's own code does.

Linux's data races are marked in the port with `data_race()`, so that it fuzzes clean;
run as Linux has them (`linux_as_is`: `data_race()` made plain), kfuzz reports them (the
third, the completion's read of urb->context that the plain ongoing_read flag alone
orders before the next read's usb_fill_bulk_urb, is in the port's docstring):

- skel_read reads dev->ongoing_read in its wait_event_interruptible condition, and
  dev->errors after a wait whose condition was already true, without err_lock or
  READ_ONCE, while skel_read_bulk_callback writes them (under err_lock, in softirq):
  "KCSAN: data-race in skel_read / skel_read_bulk_callback".
- skel_post_reset sets dev->errors "no locking needed" while a write() may be reading
  it under err_lock (skel_write takes io_mutex only later):
  "KCSAN: data-race in skel_post_reset / skel_write".

A finding of the port as it is (no marking needed) is Linux's own behaviour:

- The completions record every status in dev->errors, the unlinks they say "aren't
  errors" too: skel_flush kills the read in flight and reports that kill as -EIO, so
  close(2) after an interrupted read fails with -EIO.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from ports import linux_as_is

from kfuzz.check import CheckOptions, Verdict, check_module
from kfuzz.fuzz import resolve_targets
from kfuzz.kernel import ModuleIndex
from kfuzz.prog import parse_program
from kfuzz.prog.outcome import Outcome
from kfuzz.prog.session import KernelSession

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "target_modules"
MODULE = MODULES / "usb_skeleton.py"


def run(program: str, kernel: str = "", module: Path = MODULE) -> Outcome:
    head = f"# modules: {module}\n" + (f"# kernel: {kernel}\n" if kernel else "")
    prog = parse_program(head + "insmod usb_skeleton\nplug usb fff0:fff0 -> dev0\nopen /dev/skel0 -> fd0\n"
                         + textwrap.dedent(program), base_dir=ROOT)
    return KernelSession(ModuleIndex.scan([module])).run(prog)


def results(outcome: Outcome) -> list[object]:
    return [r.result for r in outcome.results[3:]]


def test_probe_makes_the_node_and_disconnect_takes_it_away() -> None:
    outcome = run("unplug dev0\nclose fd0\nopen /dev/skel0 -> fd1\nrmmod usb_skeleton\n")
    assert outcome.finding is None, outcome.finding
    assert results(outcome) == [0, 0, "-ENOENT", 0]
    assert any("USB Skeleton device now attached to USBSkel-192" in line for line in outcome.dmesg)
    assert any("USB Skeleton #192 now disconnected" in line for line in outcome.dmesg)


def test_a_write_then_the_devices_answer_is_what_a_read_returns() -> None:
    outcome = run("""
        write fd0 "to the device"
        urb dev0 0x81 "from the device"
        read fd0 64
        read fd0 4
        urb dev0 0x81 "abcdef"
        read fd0 4
        read fd0 4
        close fd0
    """)
    assert outcome.finding is None, outcome.finding
    assert results(outcome) == [13, 0, '"from the device"', "-EINTR", 1, '"abcd"', '"ef"', "-EIO"], \
        "the answer waits for the read's URB; a read the device leaves unanswered is interrupted " \
        "(the user gives up); one answer serves two reads; the read left in flight is killed at " \
        "close and counted as an error (Linux's skel_flush does so)"


def test_writes_are_limited_to_writes_in_flight_and_complete_by_themselves() -> None:
    outcome = run("\n".join(['write fd0 "x"'] * 12) + "\nclose fd0\n")
    assert outcome.finding is None, outcome.finding
    assert results(outcome) == [1] * 12 + [0], "the ninth write waited for the first URB to complete"


def test_a_nonblocking_read_while_a_read_is_in_flight_is_eagain() -> None:
    outcome = run("""
        open /dev/skel0 O_RDWR|O_NONBLOCK -> fd1
        urb dev0 0x81 "abc"
        read fd0 8
        read fd1 8
        write fd1 "w"
    """)
    assert outcome.finding is None, outcome.finding
    assert results(outcome) == ["fd1", 0, '"abc"', "-EAGAIN", 1], \
        "the read that got fewer bytes than it asked started the next read without waiting"


def test_a_disconnect_while_a_read_waits_ends_the_read_with_an_error() -> None:
    outcome = run("""
        together
          t1: read fd0 16
          t2: unplug dev0
        read fd0 16
        close fd0
        rmmod usb_skeleton
    """)
    assert outcome.finding is None, outcome.finding
    assert results(outcome) == [["-EIO", 0], "-ENODEV", 0, 0], \
        "the unplug flushed the read's URB (-ESHUTDOWN): the waiting read ends with -EIO"


def test_an_unplug_racing_a_close_is_clean() -> None:
    for schedule in ("t1 at mutex_lock -> t2", "t2 at mutex_lock -> t1", "t1 at kref_put -> t2",
                     "t2 at usb_deregister_dev -> t1, t1 at usb_kill_urb -> t2"):
        outcome = run(f"""
            write fd0 "abc"
            together
              t1: close fd0
              t2: unplug dev0
            schedule: {schedule}
            rmmod usb_skeleton
        """)
        assert outcome.finding is None, (schedule, outcome.finding)
        assert outcome.results[4].schedule, f"{schedule}: no preemption fired"
        assert results(outcome)[1:] == [["-EIO", 0], 0], \
            f"{schedule}: the unplug flushed the write's URB (-ESHUTDOWN): its data never went, " \
            "and the flush says so"


def test_suspend_and_reset_draw_down_and_reset_is_reported_once() -> None:
    outcome = run("""
        write fd0 "one"
        suspend
        reset dev0
        write fd0 "two"
        write fd0 "three"
        close fd0
    """)
    assert outcome.finding is None, outcome.finding
    assert results(outcome) == [3, 0, 0, "-EPIPE", 5, 0], "skel_post_reset's -EPIPE, reported once"


def test_the_marked_races_are_linuxs_and_kfuzz_reports_them_unmarked(tmp_path: Path) -> None:
    as_is = linux_as_is(MODULE, tmp_path)
    read = run("""
        together
          t1: read fd0 16
          t2: unplug dev0
    """, module=as_is)
    assert read.finding is not None
    assert read.finding.kind == "data-race"
    assert read.finding.title == "KCSAN: data-race in skel_read / skel_read_bulk_callback"
    assert "field 'ongoing_read'" in read.finding.message, "the wait_event_interruptible condition"
    answered = run("""
        together
          t1: read fd0 16
          t2: urb dev0 0x81 "data"
    """, module=as_is)
    assert answered.finding is not None, "the ordinary read: the device answers while it waits"
    assert answered.finding.title == read.finding.title
    assert answered.results[3].result == ['"data"', 1], "the race lets the read finish"
    reset = run("""
        together
          t1: write fd0 "x"
          t2: reset dev0
        schedule: t1 at spin_lock_irq -> t2
    """, module=as_is)
    assert reset.finding is not None
    assert reset.finding.title == "KCSAN: data-race in skel_post_reset / skel_write"
    assert "field 'errors'" in reset.finding.message


def test_the_marked_port_is_clean_where_linux_races() -> None:
    for program in ("together\n  t1: read fd0 16\n  t2: unplug dev0\n",
                    'together\n  t1: read fd0 16\n  t2: urb dev0 0x81 "data"\n',
                    'together\n  t1: write fd0 "x"\n  t2: reset dev0\nschedule: t1 at spin_lock_irq -> t2\n',
                    # a read that finds the last completion's ongoing_read clear refills the
                    # URB that completion read urb->context of (the marked read; fuzzing found it)
                    'read fd0 1\ntogether\n  t1: read fd0 1\n  t2: urb dev0 129 ""\n'
                    'schedule: t1 at spin_unlock_irq -> t2\n'):
        outcome = run(program)
        assert outcome.finding is None, (program, outcome.finding)


def test_kfuzz_check_passes_the_port_and_fails_linux_as_is_only_on_its_race(tmp_path: Path) -> None:
    # a close's -EIO after an interrupted read is its flush's I/O answer, no failure
    for module, races in ((MODULE, []), (linux_as_is(MODULE, tmp_path),
                                         ["KCSAN: data-race in skel_read / skel_read_bulk_callback"])):
        targets, index = resolve_targets([module], module.parent)
        done = check_module(targets[0], index, CheckOptions(reports=tmp_path / "r", fuzz_examples=0))
        failed = {r.name: r for r in done.results if r.verdict in (Verdict.FAIL, Verdict.WARN)}
        expect = {"races of file operations with unplug, unbind and rmmod"} if races else set()
        assert set(failed) == expect, (module, [(r.name, r.detail) for r in failed.values()])
        assert [f.title for f in done.findings] == races
