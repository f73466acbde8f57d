"""procfs: /proc entries, their lifecycle as fs/proc/inode.c and fs/proc/generic.c have it."""

import errno
from pathlib import Path

from kfuzz.kapi import ProcEntry
from kfuzz.prog import parse_program, run_program

PROC = """
    got = []
    calls = []


    def ps_read(file, count):
        data = b"stats: 3\\n"[file.f_pos:file.f_pos + count]
        file.f_pos += len(data)
        return data


    fops = FileOperations(read=ps_read)


    def ps_ioctl(file, cmd, arg):
        if cmd == 1:
            got.append(proc_create("ps_stats", 0o444, fops))
        if cmd == 2:
            remove_proc_entry("ps_stats")
        if cmd == 3:
            proc_remove(got[0])
        if cmd == 4:
            proc_remove(None)
        return 0
"""


def test_proc_entry_is_read_through_proc(lab):
    lab.device("ps", PROC)
    k = lab.boot()
    assert lab.insmod("ps") == 0
    lab.ioctl("ps", 1)
    entry = lab.ns("ps")["got"][0]
    assert isinstance(entry, ProcEntry) and entry.name == "ps_stats"
    file = k.do("open", "/proc/ps_stats", nobody=True)
    assert k.do("read", file, 4) == b"stat"
    assert k.do("read", file, 100) == b"s: 3\n"
    assert k.do("read", file, 100) == b""
    assert k.do("write", file, b"x") == -errno.EIO, "pde_write without proc_write"
    assert k.do("close", file) == 0
    lab.ioctl("ps", 2)
    assert k.do("open", "/proc/ps_stats") == -errno.ENOENT
    assert k.findings == []


def test_proc_create_of_a_name_that_exists_warns_and_returns_none(lab):
    lab.device("ps", PROC)
    k = lab.boot()
    assert lab.insmod("ps") == 0
    lab.ioctl("ps", 1)
    lab.ioctl("ps", 1)
    assert lab.ns("ps")["got"][1] is None, "the name is taken"
    assert lab.findings() == [("warning", "WARNING: proc_dir_entry already registered in ps_ioctl")]
    assert "proc_dir_entry '/proc/ps_stats' already registered" in lab.dmesg()
    assert "W" in k.taint_string()


def test_removing_an_unknown_proc_entry_by_name_warns(lab):
    lab.device("ps", PROC)
    k = lab.boot()
    lab.insmod("ps")
    lab.ioctl("ps", 2)
    assert lab.findings() == [("warning", "WARNING: remove_proc_entry of unknown entry in ps_ioctl")]
    assert k.findings[0].module == "ps"
    assert "name 'ps_stats'" in lab.dmesg()


def test_proc_remove_is_silent_for_an_entry_already_gone(lab):
    lab.device("ps", PROC)
    k = lab.boot()
    assert lab.insmod("ps") == 0
    lab.ioctl("ps", 1)
    lab.ioctl("ps", 3)
    assert "/proc/ps_stats" not in k.fs.nodes
    lab.ioctl("ps", 3)  # gone already
    lab.ioctl("ps", 4)  # NULL
    lab.ioctl("ps", 1)  # a new entry of the same name is not the one proc_remove was given
    lab.ioctl("ps", 3)
    assert "/proc/ps_stats" in k.fs.nodes
    assert k.findings == []


# A /proc file with per-open state: open allocates it, release frees it.
PEROPEN = """
    calls = []


    def po_open(inode, file):
        file.private_data = kzalloc(32)
        calls.append("open")
        return 0


    def po_read(file, count):
        calls.append("read")
        return b"x" * min(count, 4)


    def po_ioctl(file, cmd, arg):
        calls.append("ioctl")
        if cmd == 9:
            remove_proc_entry("po")
        return 0


    def po_release(inode, file):
        calls.append(("release", file.extra.get("n")))
        kfree(file.private_data)
        return 0


    fops = FileOperations(open=po_open, read=po_read, unlocked_ioctl=po_ioctl, release=po_release)


    @module_init
    def po_init():
        return 0 if proc_create("po", 0o444, fops) is not None else -ENOMEM


    @module_exit
    def po_exit():
        remove_proc_entry("po")
"""


def test_an_open_proc_file_does_not_pin_and_removal_releases_it(lab):
    lab.module("po", PEROPEN)
    k = lab.boot()
    assert lab.insmod("po") == 0
    a, b = k.do("open", "/proc/po"), k.do("open", "/proc/po")
    a.extra["n"], b.extra["n"] = "a", "b"
    mod = k.loader.modules["po"]
    calls = lab.ns("po")["calls"]
    assert mod.refcnt == 0, "proc_ops has no owner"
    assert k.do("rmmod", "po") == 0
    assert calls == ["open", "open", ("release", "b"), ("release", "a")], "close_pdeo, newest first"
    assert (k.do("read", a, 4), k.do("ioctl", a, 1, 0)) == (-errno.EIO, -errno.ENOTTY)
    assert k.do("close", a) == 0 and k.do("close", b) == 0
    assert calls == ["open", "open", ("release", "b"), ("release", "a")], "released once, not after unload"
    assert k.findings == [], lab.findings()


def test_closing_before_removal_releases_once(lab):
    lab.module("po", PEROPEN)
    k = lab.boot()
    assert lab.insmod("po") == 0
    calls = lab.ns("po")["calls"]
    file = k.do("open", "/proc/po")
    assert k.do("read", file, 8) == b"xxxx"
    assert k.do("close", file) == 0
    assert k.do("rmmod", "po") == 0
    assert calls == ["open", "read", ("release", None)]
    assert k.findings == []


def test_a_failed_open_is_never_released(lab):
    lab.module("po", PEROPEN.replace('calls.append("open")\n        return 0',
                                     'calls.append("open")\n        kfree(file.private_data)\n'
                                     "        return -EBUSY"))
    k = lab.boot()
    assert lab.insmod("po") == 0
    calls = lab.ns("po")["calls"]
    assert k.do("open", "/proc/po") == -errno.EBUSY
    assert k.do("rmmod", "po") == 0
    assert calls == ["open"]
    assert k.findings == []


def test_removal_from_a_call_through_the_entry_waits_for_itself(lab):
    lab.module("po", PEROPEN)
    k = lab.boot()
    assert lab.insmod("po") == 0
    file = k.do("open", "/proc/po")
    assert k.do("ioctl", file, 9, 0) is None
    f = lab.finding()
    assert (f.kind, f.title) == ("hang", "INFO: task hung in po_ioctl")
    assert "remove_proc_entry" in f.message


def test_an_entry_left_behind_is_unloaded_code_when_its_file_is_used(lab):
    lab.module("po", "pass".join(PEROPEN.rsplit('remove_proc_entry("po")', 1)))  # exit forgets it
    k = lab.boot()
    assert lab.insmod("po") == 0
    file = k.do("open", "/proc/po")
    assert k.do("rmmod", "po") is None
    assert lab.findings() == [("dangling-registration", "WARNING: dangling proc entry po after unload")]
    k.findings.clear()
    assert k.do("read", file, 4) is None
    assert lab.findings() == [("unloaded-code", "BUG: unable to handle page fault in po_read")]


def test_programs_that_end_with_a_proc_file_open_are_clean(lab, tmp_path: Path):
    path = lab.module("po", PEROPEN)
    for body in ("open /proc/po -> fd0\nrmmod po\nread fd0 4\n",  # teardown closes a released file
                 "open /proc/po -> fd0\nread fd0 4\n"):  # teardown closes it, then removes po
        prog = parse_program(f"# modules: {path.name}\ninsmod po\n{body}", base_dir=tmp_path)
        outcome = run_program(prog)
        assert outcome.finding is None, outcome.dmesg
