"""Golden titles: for every entry of kfuzz/kernel/titles.py, a program and the exact
title it gives. A title is a bug's identity (report folders, the minimizer), so a
format that changes by accident, or a new one without a golden case here, fails.

Each case is a module g, most of them a device /dev/g (conftest's `lab.device`) whose
ioctl does one wrong thing, and a program that loads, opens and calls it. Cases run
in this process; those where the kernel's process dies or cannot be interrupted run
in the fork worker.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from kfuzz.executor.worker import ForkExecutor
from kfuzz.kernel import Finding, FrameRef, Kind, ModuleIndex
from kfuzz.kernel.findings import KINDS
from kfuzz.kernel.titles import TITLES
from kfuzz.prog import KernelSession, Outcome, parse_program, run_program
from kfuzz.report import ReportRecord

IOCTL = "insmod g\nopen /dev/g -> fd0\nioctl fd0 1 0\n"


@dataclass(frozen=True)
class Golden:
    key: str  # the entry of TITLES this case gives
    title: str
    code: str  # module g: the body of a device module /dev/g, or the whole module (device=False)
    program: str = IOCTL
    how: str = "inprocess"  # or "hang" (an in-process timer), "fork" (the worker dies or hangs)
    device: bool = True


def ioctl(code: str) -> str:
    """A module body whose ioctl runs `code` (lines indented by 4)."""
    return "def g_ioctl(file, cmd, arg):\n" + "".join(f"    {line}\n" for line in code.splitlines()) \
        + "    return 0\n"


RACY = """
st = None


def g_setup():
    global st
    st = kzalloc(8)
    return 0 if st is not None else -ENOMEM


def g_inc():
    n = st.count
    msleep(1)
    st.count = n + 1


def g_ioctl(file, cmd, arg):
    if cmd == 1:
        g_inc()
    else:
        st.count = 5
    return 0


def g_release(inode, file):
    kfree(st)
    return 0
"""

DEVM_KFREE = """
def g_probe(dev, id):
    buf = kmalloc(8)
    devm_kfree(dev, buf)  # not devm's: the WARN_ON of devm_kfree
    kfree(buf)
    return 0


module_platform_driver(Driver(name="g", bus="platform", id_table=[platform_device_id("gdev")],
                              probe=g_probe))
"""

NOOWNER = """
def g_read(file, count):
    return b"x" * count


g_fops = FileOperations(read=g_read)  # no owner: nothing pins the module while a file is open
g_misc = MiscDevice(name="g", fops=g_fops)


@module_init
def g_init():
    return misc_register(g_misc)


@module_exit
def g_exit():
    misc_deregister(g_misc)
"""

WORK_KEEPS_LOCK = """
m = mutex_init()


def g_work(work):
    mutex_lock(m)


w = INIT_WORK(g_work)
""" + ioctl("schedule_work(w)")

TIMER = """
def g_tick(t):
    pass


timer = timer_setup(g_tick)
""" + ioctl("mod_timer(timer, jiffies() + 100)")

LOCK_ORDER = """
a = mutex_init()
b = mutex_init()


def g_ioctl(file, cmd, arg):
    first, second = (a, b) if cmd == 1 else (b, a)
    mutex_lock(first)
    mutex_lock(second)
    mutex_unlock(second)
    mutex_unlock(first)
    return 0
"""

# a spinlock s taken in an IRQ handler (line 9) or a timer callback; the ioctl takes s
# or t as `cmd` says, with IRQs (softirqs) on unless the cmd says otherwise
IRQ_LOCKS = """
s = spin_lock_init()
t = spin_lock_init()


def g_irq(irq, dev_id):
    {irq}
    return IRQ_HANDLED


def g_tick(timer):
    spin_lock(s)
    spin_unlock(s)


timer = timer_setup(g_tick)


def g_setup():
    return request_irq(9, g_irq, 0, "g", None)


def g_ioctl(file, cmd, arg):
    if cmd == 0:
        mod_timer(timer, jiffies() + 1)
    elif cmd == 1:
        spin_lock(s)
        spin_unlock(s)
    elif cmd == 2:
        spin_lock(t)
        spin_unlock(t)
    elif cmd == 3:
        flags = spin_lock_irqsave(s)
        spin_lock(t)
        spin_unlock(t)
        spin_unlock_irqrestore(s, flags)
    elif cmd == 4:
        spin_lock_bh(s)
        spin_lock(t)
        spin_unlock(t)
        spin_unlock_bh(s)
    return 0
"""
TAKE_S = IRQ_LOCKS.format(irq="spin_lock(s)\n    spin_unlock(s)")


def ioctls(*cmds: int, before: str = "") -> str:
    return "insmod g\n" + before + "open /dev/g -> fd0\n" + "".join(f"ioctl fd0 {c} 0\n" for c in cmds)


IRQ_WAITS_FOR_TIMER = """
def g_tick(t):
    pass


timer = timer_setup(g_tick)


def g_irq(irq, dev_id):
    del_timer_sync(timer)  # spins in hard-IRQ context
    return IRQ_HANDLED


def g_ioctl(file, cmd, arg):
    return request_irq(50, g_irq, 0, "g", None)


def g_release(inode, file):
    free_irq(50, None)
    return 0
"""

FREED_ARMED = """
def g_tick(t):
    pass


def g_work(w):
    pass


""" + ioctl("p = kzalloc(16)\np.timer = timer_setup(g_tick)\np.work = INIT_WORK(g_work)\n"
            "if cmd == 1:\n    mod_timer(p.timer, jiffies() + 10)\n"
            "if cmd == 2:\n    schedule_work(p.work)\nkfree(p)")

PYLEAK = """
import sys
import types

cache = sys.modules.setdefault("_kfuzz_golden_leak", types.ModuleType("_kfuzz_golden_leak"))
if not hasattr(cache, "images"):
    cache.images = []


@module_init
def g_init():
    cache.images.append(bytearray(64 * 1024))  # outlives every unload
    return 0


@module_exit
def g_exit():
    pass
"""

USB_TWICE = """
MODULE_DEVICE_TABLE = [USB_DEVICE(0x1D50, 0x6001)]
g_urb = None


def g_complete(urb):
    pass


def g_probe(intf, id):
    global g_urb
    udev = interface_to_usbdev(intf)
    g_urb = usb_alloc_urb(0, GFP_KERNEL)
    usb_fill_int_urb(g_urb, udev, usb_rcvintpipe(udev, 0x83), kmalloc(8), 8, g_complete, None, 1)
    usb_submit_urb(g_urb, GFP_KERNEL)
    return usb_submit_urb(g_urb, GFP_KERNEL)


g_driver = UsbDriver(name="g", probe=g_probe, id_table=MODULE_DEVICE_TABLE)
module_usb_driver(g_driver)
"""

GOLDEN = [
    # memory
    Golden("MEMORY_LEAK", "memory leak in g_ioctl", "kept = []\n\n\n" + ioctl("kept.append(kmalloc(8))")),
    Golden("USE_AFTER_FREE", "KASAN: use-after-free in g_ioctl",
           ioctl("buf = kmalloc(8)\nkfree(buf)\nbuf[0] = 1")),
    Golden("OUT_OF_BOUNDS", "KASAN: slab-out-of-bounds in g_ioctl", ioctl("buf = kmalloc(8)\nbuf[8] = 1")),
    Golden("DOUBLE_FREE", "KASAN: double-free in g_ioctl", ioctl("buf = kmalloc(8)\nkfree(buf)\nkfree(buf)")),
    Golden("INVALID_FREE", "KASAN: invalid-free in g_ioctl", ioctl('kfree(b"not from kmalloc")')),
    Golden("USER_BUFFER_OVERFLOW", "BUG: user-buffer-overflow in g_read",
           "def g_read(file, buf, count, ppos):\n    return 8 - copy_to_user(buf, bytes(8), 8)\n",
           "insmod g\nopen /dev/g -> fd0\nread fd0 4\n"),
    Golden("ALLOC_PAGES_TOO_LARGE", "WARNING in __alloc_pages", ioctl("kfree(kmalloc(2 << 30))")),
    # usb: an URB submitted again while it is in flight (drivers/usb/core/urb.c)
    Golden("USB_SUBMIT_URB", "WARNING in usb_submit_urb", USB_TWICE, "insmod g\nplug usb 1d50:6001 -> dev0\n",
           device=False),
    # left behind
    Golden("DANGLING", "WARNING: dangling timer g_tick after unload", TIMER),
    # concurrency: two tasks of a group, one preempted between its read and its write
    Golden("DATA_RACE", "KCSAN: data-race in g_inc / g_ioctl", RACY,
           "insmod g\nopen /dev/g -> fd0\ntogether\n  t1: ioctl fd0 1 0\n  t2: ioctl fd0 2 0\n"
           "schedule: t1 at msleep -> t2\n"),
    Golden("UNLOADED_CODE", "BUG: unable to handle page fault in g_read", NOOWNER,
           "insmod g\nopen /dev/g -> fd0\nrmmod g\nread fd0 8\n", device=False),
    # oopses
    Golden("NULL_DEREF", "BUG: kernel NULL pointer dereference in g_ioctl",
           ioctl("priv = None\npriv.count += 1")),
    Golden("OOPS", "Oops: ValueError in g_ioctl", ioctl('int("x")')),
    Golden("DIVIDE_ERROR", "divide error in g_ioctl", ioctl("cmd // (cmd - 1)")),
    # locking
    Golden("ATOMIC_SLEEP", "BUG: sleeping function called from invalid context in g_ioctl",
           "lock = spin_lock_init()\n\n\n" + ioctl("spin_lock(lock)\nmsleep(1)")),
    Golden("RECURSIVE_LOCKING", "possible recursive locking in g_ioctl",
           "m = mutex_init()\n\n\n" + ioctl("mutex_lock(m)\nmutex_lock(m)")),
    Golden("CIRCULAR_LOCKING", "possible circular locking dependency in g_ioctl", LOCK_ORDER,
           "insmod g\nopen /dev/g -> fd0\nioctl fd0 1 0\nioctl fd0 2 0\n"),
    Golden("BAD_UNLOCK", "WARNING: bad unlock balance in g_ioctl",
           "m = mutex_init()\n\n\n" + ioctl("mutex_unlock(m)")),
    Golden("LOCK_HELD_RETURNING", "WARNING: lock held when returning to user space in g_ioctl",
           "m = mutex_init()\n\n\n" + ioctl("mutex_lock(m)")),
    Golden("WORKQUEUE_LEAKED_LOCK", "BUG: workqueue leaked lock in g_work", WORK_KEEPS_LOCK,
           IOCTL + "tick 1\n"),
    # s used in the IRQ handler, then taken with IRQs on
    Golden("INCONSISTENT_LOCK_STATE", "inconsistent lock state in g_ioctl", TAKE_S,
           ioctls(1, before="irq 9\n")),
    Golden("INCONSISTENT_LOCK_STATE", "inconsistent lock state in g_tick", TAKE_S,
           ioctls(1, 0) + "tick 1\n"),
    # s used in the IRQ handler (in the timer), t taken with IRQs (softirqs) on, then s -> t
    Golden("HARDIRQ_SAFE_UNSAFE", "HARDIRQ-safe -> HARDIRQ-unsafe lock order in g_ioctl", TAKE_S,
           ioctls(2, 3, before="irq 9\n")),
    Golden("SOFTIRQ_SAFE_UNSAFE", "SOFTIRQ-safe -> SOFTIRQ-unsafe lock order in g_ioctl", TAKE_S,
           ioctls(0) + "tick 1\n" + "ioctl fd0 2 0\nioctl fd0 4 0\n"),
    # s -> t seen with IRQs off, t taken with IRQs on, then s used in the IRQ handler
    Golden("IRQ_LOCK_INVERSION", "possible irq lock inversion dependency in g_irq", TAKE_S,
           ioctls(3, 2) + "irq 9\n"),
    Golden("INVALID_SUBCLASS", "BUG: looking up invalid subclass in g_ioctl",
           "lock = spin_lock_init()\n\n\n" + ioctl("spin_lock_nested(lock, 8)")),
    # reference counts
    Golden("REFCOUNT_ADDITION_ON_0", "refcount_t: addition on 0 in g_ioctl",
           ioctl("refcount_inc(refcount_t(0))")),
    Golden("REFCOUNT_UNDERFLOW", "refcount_t: underflow in g_ioctl",
           ioctl("refcount_dec_and_test(refcount_t(0))")),
    Golden("REFCOUNT_DECREMENT_HIT_0", "refcount_t: decrement hit 0 in g_ioctl",
           ioctl("refcount_dec(refcount_t(1))")),
    Golden("REFCOUNT_SATURATED", "refcount_t: saturated in g_ioctl",
           ioctl("refcount_inc(refcount_t(0x7FFFFFFF))")),
    # the open file holds the one reference: the second put has none to drop
    Golden("MODULE_REFCOUNT_UNDERFLOW", "module g: refcount underflow in g_ioctl",
           ioctl("module_put(THIS_MODULE)\nmodule_put(THIS_MODULE)")),
    Golden("MODULE_REFERENCE_LEAKED", "module g: reference leaked in g_ioctl",
           ioctl("try_module_get(THIS_MODULE)")),
    # warnings
    Golden("WARN_ON", "WARNING in g_ioctl", ioctl("WARN_ON(cmd == 1)")),
    Golden("PRINTF_UNSUPPORTED", "WARNING: unsupported conversion in format string in g_ioctl",
           ioctl('pr_info("count %n", cmd)')),
    Golden("DEVM_KFREE_UNKNOWN", "WARNING: devm_kfree of memory devm did not allocate in g_probe", DEVM_KFREE,
           "insmod g\nplug platform gdev\n", device=False),
    Golden("IDA_FREE_UNALLOCATED", "WARNING: ida_free of an id not allocated in g_ioctl",
           "ids = DEFINE_IDA()\n\n\n" + ioctl("ida_free(ids, 3)")),
    Golden("FREE_IRQ_TWICE", "WARNING: trying to free already-free IRQ in g_ioctl",
           ioctl("free_irq(5, None)")),
    Golden("REMOVE_PROC_UNKNOWN", "WARNING: remove_proc_entry of unknown entry in g_ioctl",
           ioctl('remove_proc_entry("nosuch")')),
    Golden("QUEUE_WORK_DESTROYED", "WARNING: queue_work on destroyed workqueue in g_ioctl",
           "def g_work(work):\n    pass\n\n\n" + ioctl('wq = alloc_workqueue("gq")\ndestroy_workqueue(wq)\n'
                                                      "queue_work(wq, INIT_WORK(g_work))")),
    Golden("PROC_REGISTER_TWICE", "WARNING: proc_dir_entry already registered in g_ioctl",
           ioctl('proc_create("g", 0o444, g_fops)\nproc_create("g", 0o444, g_fops)')),
    Golden("MISC_REGISTER_TWICE", "WARNING: misc device registered twice in g_ioctl",
           ioctl("misc_register(g_misc)")),
    Golden("MISC_DEREGISTER_UNKNOWN", "WARNING: misc_deregister of unregistered device in g_ioctl",
           ioctl('misc_deregister(MiscDevice(name="other", fops=g_fops))')),
    Golden("DRIVER_UNREGISTER_UNKNOWN", "WARNING: unregistering unknown driver in g_ioctl",
           ioctl('driver_unregister(Driver(name="other", bus="pci"))')),
    Golden("IRQ_HANDLER_ENABLED_IRQS", "WARNING: irq handler enabled interrupts in g_irq",
           IRQ_LOCKS.format(irq="spin_lock_irq(s)\n    spin_unlock_irq(s)"), ioctls(before="irq 9\n")),
    Golden("ADD_TIMER_PENDING", "WARNING: add_timer of a pending timer in g_ioctl",
           TIMER.replace("mod_timer(timer, jiffies() + 100)",
                         "mod_timer(timer, jiffies() + 100)\n    add_timer(timer)\n    del_timer(timer)")),
    Golden("DEL_TIMER_SYNC_IN_HARDIRQ", "WARNING: del_timer_sync in hardirq context in g_irq",
           IRQ_WAITS_FOR_TIMER, IOCTL + "irq 50\n"),
    Golden("NOTIFIER_REGISTER_TWICE", "WARNING: notifier registered twice in g_ioctl",
           "def g_pm(event):\n    return 0\n\n\n"
           + ioctl("register_pm_notifier(g_pm)\nregister_pm_notifier(g_pm)")),
    # debug objects
    Golden("ODEBUG_FREE_ACTIVE", "ODEBUG: free active object type: timer_list in g_ioctl", FREED_ARMED),
    Golden("ODEBUG_FREE_ACTIVE", "ODEBUG: free active object type: work_struct in g_ioctl", FREED_ARMED,
           "insmod g\nopen /dev/g -> fd0\nioctl fd0 2 0\n"),
    # BUG and panic
    Golden("BUG", "kernel BUG in g_ioctl", ioctl("BUG_ON(cmd == 1)")),
    Golden("PANIC", "kernel panic in g_ioctl", ioctl('panic("no way on")')),
    # the kernel's process
    Golden("HANG", "INFO: task hung in g_ioctl", ioctl("while True:\n    pass"), how="hang"),
    Golden("HANG", "INFO: task hung in g_ioctl",
           ioctl("sum(range(10**13))  # C code: the timer signal cannot cut in"), how="fork"),
    Golden("OUT_OF_MEMORY", "kernel process out of memory in g_ioctl", ioctl("raise MemoryError")),
    Golden("CRASH", "kernel process exited with code 3 in g_ioctl", "import os\n\n\n" + ioctl("os._exit(3)"),
           how="fork"),
    Golden("CRASH", "kernel process killed by SIGABRT in g_ioctl", "import os\n\n\n" + ioctl("os.abort()"),
           how="fork"),
    # the python-leak check
    Golden("PYTHON_LEAK", "Python heap leak in g_init", PYLEAK, "insmod g\nrmmod g\n", device=False),
    # module code acting outside its kernel: the executors watch for it, run_program does not
    Golden("ESCAPE", "BUG: module escaped its kernel: chdir in g_ioctl",
           "import os\n\n\n" + ioctl('os.chdir("/")'), how="fork"),
]


def pattern(fmt: str) -> re.Pattern[str]:
    """A title format as a regex: each field is any text."""
    parts = re.split(r"\{\w+\}", fmt)
    return re.compile(".+".join(map(re.escape, parts)))


@pytest.fixture
def no_golden_cache() -> Iterator[None]:
    yield
    sys.modules.pop("_kfuzz_golden_leak", None)


def run_case(lab, case: Golden) -> Outcome:  # noqa: ANN001
    path = lab.device("g", case.code) if case.device else lab.module("g", case.code)
    checks = "# check: python-leak\n" if case.key == "PYTHON_LEAK" else ""
    prog = parse_program(f"# modules: {path}\n{checks}{case.program}")
    index = ModuleIndex.scan(lab.paths)
    if case.how == "fork":
        executor = ForkExecutor(index, op_timeout=0.3, memory_mb=256)
        try:
            return executor.run(prog)
        finally:
            executor.close()
    if case.how == "hang":
        return KernelSession(index, op_timeout=0.2).run(prog)
    return run_program(prog, index)


@pytest.mark.parametrize("case", GOLDEN, ids=[f"{g.key}-{g.how}" for g in GOLDEN])
def test_golden_title(lab, case: Golden, no_golden_cache: None) -> None:  # noqa: ANN001
    outcome = run_case(lab, case)
    finding = outcome.finding
    assert finding is not None, "\n".join(outcome.dmesg)
    entry = TITLES[case.key]
    assert (finding.kind, finding.title) == (entry.kind, case.title), "\n".join(outcome.dmesg)
    assert pattern(entry.fmt).fullmatch(case.title), (entry.fmt, case.title)
    assert finding.module == "g"


def test_every_title_has_a_golden_case() -> None:
    assert sorted(TITLES) == sorted({g.key for g in GOLDEN})


def test_no_format_is_written_twice() -> None:
    formats = [t.fmt for t in TITLES.values()]
    assert len(formats) == len(set(formats))


def test_kinds_are_the_strings_reports_have_always_used() -> None:
    assert KINDS == ("memory-leak", "use-after-free", "double-free", "out-of-bounds",
                     "dangling-registration", "unloaded-code", "oops", "atomic-sleep", "lockdep",
                     "refcount", "warning", "bug", "hang", "crash", "python-leak", "escape", "data-race")
    assert Kind("use-after-free") is Kind.USE_AFTER_FREE
    assert f"{Kind.USE_AFTER_FREE}" == str(Kind.USE_AFTER_FREE) == "use-after-free"


def test_a_finding_names_its_guilty_frame_and_crosses_as_plain_data(lab) -> None:  # noqa: ANN001
    case = next(g for g in GOLDEN if g.key == "USE_AFTER_FREE")
    finding = run_case(lab, case).finding
    assert finding is not None and finding.site is not None
    assert (finding.site.file, finding.site.function) == (str(lab.paths[0]), "g_ioctl")
    data = finding.to_dict()
    assert data["kind"] == "use-after-free" and type(data["kind"]) is str
    assert data["site"] == {"file": str(lab.paths[0]), "line": finding.site.line, "function": "g_ioctl"}
    back = Finding.from_dict(data)
    assert back == finding and back.kind is Kind.USE_AFTER_FREE
    record = ReportRecord.of(finding, "", 0)  # report.json's site is the finding's
    assert record.kind == "use-after-free"
    assert record.site is not None and (record.site["line"], record.site["function"]) == (
        finding.site.line, "g_ioctl")


def test_a_finding_dict_from_before_sites_still_loads() -> None:
    old = {"kind": "warning", "title": "WARNING in g_ioctl", "module": "g", "function": "g_ioctl",
           "message": "", "traceback": [], "alloc_site": [], "free_site": []}
    finding = Finding.from_dict(old)
    assert (finding.kind, finding.site) == (Kind.WARNING, None)


def test_a_crash_names_the_frame_of_the_dump_and_none_without_one(lab) -> None:  # noqa: ANN001
    aborts, exits = (next(g for g in GOLDEN if g.key == "CRASH" and g.title.endswith(f"{sig} in g_ioctl"))
                     for sig in ("SIGABRT", "code 3"))
    finding = run_case(lab, aborts).finding  # a fatal signal: faulthandler dumps the stack
    assert finding is not None and finding.site is not None
    line = lab.paths[0].read_text().splitlines().index("    os.abort()") + 1
    assert finding.site == FrameRef(str(lab.paths[0]), line, "g_ioctl")
    finding = run_case(lab, exits).finding  # os._exit: no dump, only the breadcrumb's function
    assert finding is not None and (finding.function, finding.site) == ("g_ioctl", None)
