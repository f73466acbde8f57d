"""Character and misc devices: registration, file operations, owner pinning."""

import errno

import pytest

from kfuzz.kapi import MiscDevice
from kfuzz.kernel.chrdev import find_dynamic_major
from kfuzz.kernel.fs import File, Inode

CHRDEV = """
    calls = []
    major = 0


    def cd_open(inode, file):
        calls.append(("open", type(inode).__name__, file.private_data))
        file.private_data = "mine"
        return 0


    def cd_read(file, count):
        calls.append(("read", count, file.private_data))
        data = b"0123456789"[file.f_pos:file.f_pos + count]
        file.f_pos += len(data)
        return data


    def cd_write(file, data):
        calls.append(("write", data))
        return len(data)


    def cd_ioctl(file, cmd, arg):
        calls.append(("ioctl", cmd, arg))
        return cmd + arg


    def cd_release(inode, file):
        calls.append(("release", file.private_data))
        return 0


    fops = FileOperations(owner=THIS_MODULE, open=cd_open, read=cd_read, write=cd_write,
                          unlocked_ioctl=cd_ioctl, release=cd_release)


    @module_init
    def cd_init():
        global major
        major = register_chrdev(0, "cd", fops)
        return major if major < 0 else 0


    @module_exit
    def cd_exit():
        unregister_chrdev(major, "cd")
"""


def test_file_operations_reach_the_driver(lab):
    lab.module("cd", CHRDEV)
    k = lab.boot()
    assert lab.insmod("cd") == 0
    file = k.do("open", "/dev/cd")
    assert isinstance(file, File)
    assert k.do("read", file, 4) == b"0123"
    assert k.do("read", file, 4) == b"4567"
    assert file.f_pos == 8
    assert k.do("write", file, b"hi") == 2
    assert k.do("ioctl", file, 0x10, 5) == 0x15
    assert k.do("close", file) == 0
    assert k.do("close", file) == -errno.EBADF
    assert k.do("read", file, 1) == -errno.EBADF
    assert lab.ns("cd")["calls"] == [
        ("open", "Inode", None), ("read", 4, "mine"), ("read", 4, "mine"), ("write", b"hi"),
        ("ioctl", 0x10, 5), ("release", "mine")]
    assert k.do("rmmod", "cd") == 0
    assert k.findings == []


def test_register_chrdev_returns_the_major_it_picks_and_0_for_a_given_one(lab):
    lab.module("regs", """
        fops = FileOperations()
        got = {}


        @module_init
        def regs_init():
            got["a"] = register_chrdev(0, "a", fops)
            got["taken"] = register_chrdev(got["a"], "b", fops)
            got["c"] = register_chrdev(200, "c", fops)
            got["misc"] = register_chrdev(10, "m", fops)
            got["too big"] = register_chrdev(512, "big", fops)
            got["d"] = register_chrdev(0, "d", fops)
            got["same name"] = register_chrdev(0, "a", fops)
            return 0


        @module_exit
        def regs_exit():
            unregister_chrdev(got["a"], "a")
            unregister_chrdev(200, "c")
            unregister_chrdev(got["d"], "d")
    """)
    k = lab.boot()
    assert lab.insmod("regs") == 0
    got = lab.ns("regs")["got"]
    assert (got["a"], got["d"]) == (254, 253), "fs/char_dev.c: 254 downwards"
    assert (got["taken"], got["c"], got["misc"], got["too big"], got["same name"]) == (
        -errno.EBUSY, 0, -errno.EBUSY, -errno.EINVAL, -errno.EBUSY), got
    assert 'CHRDEV "big" major requested (512) is greater than the maximum (511)' in lab.dmesg()
    assert set(k.chrdevs) == {254, 200, 253}
    assert {n.path for n in k.fs.nodes.values()} == {"/dev/a", "/dev/c", "/dev/d"}
    assert k.do("rmmod", "regs") == 0
    assert k.fs.nodes == {} and k.chrdevs == {} and k.findings == []
    assert k.do("open", "/dev/a") == -errno.ENOENT


def test_dynamic_majors_follow_linux_ranges_and_hash():
    assert find_dynamic_major(set()) == 254
    assert find_dynamic_major({254, 253}) == 252
    # chrdevs[] is a hash of 255 buckets: 489 sits in bucket 234, so 234 is not free
    assert find_dynamic_major(set(range(235, 255)) | {489}) == 511
    assert find_dynamic_major(set(range(234, 255)) | {511, 510}) == 509
    assert find_dynamic_major(set(range(234, 255)) | set(range(384, 512))) == -errno.EBUSY


def test_unregister_chrdev_ignores_the_name_and_an_unknown_major(lab):
    lab.module("unreg", """
        fops = FileOperations()
        got = []


        @module_init
        def unreg_init():
            got.append(register_chrdev(0, "unreg", fops))
            unregister_chrdev(200, "nosuch")        # never registered: silent
            unregister_chrdev(got[0], "othername")  # the name is only a label
            unregister_chrdev(got[0], "unreg")      # already gone: silent
            return 0


        @module_exit
        def unreg_exit():
            pass
    """)
    k = lab.boot()
    assert lab.insmod("unreg") == 0
    assert lab.ns("unreg")["got"] == [254]
    assert k.chrdevs == {} and k.fs.nodes == {}
    assert k.do("rmmod", "unreg") == 0
    assert k.findings == [] and "W" not in k.taint_string()


def test_misc_register_refuses_a_taken_name_and_sets_private_data(lab):
    lab.module("mi", """
        seen = []


        def mi_open(inode, file):
            seen.append(file.private_data)
            return 0


        fops = FileOperations(owner=THIS_MODULE, open=mi_open)
        first = MiscDevice(name="mi0", fops=fops)
        second = MiscDevice(name="mi0", fops=fops)
        got = []


        @module_init
        def mi_init():
            got.append(misc_register(first))
            got.append(misc_register(second))
            return 0


        @module_exit
        def mi_exit():
            misc_deregister(first)
    """)
    k = lab.boot()
    assert lab.insmod("mi") == 0
    assert lab.ns("mi")["got"] == [0, -errno.EEXIST], "drivers/char/misc.c: device_create fails"
    assert lab.ns("mi")["second"].minor == 255, "a refused device keeps MISC_DYNAMIC_MINOR"
    file = k.do("open", "/dev/mi0")
    assert file.private_data is lab.ns("mi")["first"]
    assert isinstance(file.private_data, MiscDevice)
    assert lab.ns("mi")["seen"] == [lab.ns("mi")["first"]]
    assert isinstance(file.f_inode, Inode)
    k.do("close", file)
    assert k.do("rmmod", "mi") == 0 and k.findings == []


def test_misc_minors_dynamic_from_127_down_and_a_taken_static_one_is_ebusy(lab):
    lab.module("mm2", """
        fops = FileOperations()
        a = MiscDevice(name="mm_a", fops=fops)
        b = MiscDevice(name="mm_b", fops=fops)
        fixed = MiscDevice(name="mm_fixed", fops=fops, minor=200)
        clash = MiscDevice(name="mm_clash", fops=fops, minor=200)
        clash_dyn = MiscDevice(name="mm_clash_dyn", fops=fops, minor=127)
        got = []


        @module_init
        def mm2_init():
            for misc in (a, b, fixed, clash, clash_dyn):
                got.append(misc_register(misc))
            return 0


        @module_exit
        def mm2_exit():
            for misc in (a, b, fixed):
                misc_deregister(misc)
    """)
    k = lab.boot()
    assert lab.insmod("mm2") == 0
    ns = lab.ns("mm2")
    assert ns["got"] == [0, 0, 0, -errno.EBUSY, -errno.EBUSY]
    assert (ns["a"].minor, ns["b"].minor, ns["fixed"].minor) == (127, 126, 200)
    assert "/dev/mm_clash" not in k.fs.nodes and "/dev/mm_clash_dyn" not in k.fs.nodes
    assert k.do("rmmod", "mm2") == 0
    assert k.findings == []


@pytest.mark.parametrize("op, args, err", [
    ("read", (8,), -errno.EINVAL), ("write", (b"x",), -errno.EINVAL), ("ioctl", (1, 2), -errno.ENOTTY),
])
def test_missing_callback_gives_the_usual_errno(lab, op, args, err):
    lab.device("bare")  # no callbacks at all: open and release are optional
    k = lab.boot()
    assert lab.insmod("bare") == 0
    file = k.do("open", "/dev/bare")
    assert isinstance(file, File)
    assert k.do(op, file, *args) == err
    assert k.do("close", file) == 0
    assert k.findings == []


def test_open_that_fails_returns_its_errno_and_pins_nothing(lab):
    lab.device("deny", """
        def deny_open(inode, file):
            return -EBUSY
    """)
    k = lab.boot()
    assert lab.insmod("deny") == 0
    assert k.do("open", "/dev/deny") == -errno.EBUSY
    assert k.do("rmmod", "deny") == 0


def test_open_file_with_owner_pins_the_module(lab):
    lab.module("cd", CHRDEV)
    k = lab.boot()
    assert lab.insmod("cd") == 0
    file = k.do("open", "/dev/cd")
    assert lab.lsmod()[0].split()[2] == "1", lab.lsmod()
    assert k.do("rmmod", "cd") == -errno.EBUSY
    assert "rmmod: ERROR: Module cd is in use" in lab.dmesg()
    assert k.do("read", file, 2) == b"01", "the module is still there"
    assert k.do("close", file) == 0
    assert k.do("rmmod", "cd") == 0
    assert k.findings == []


def test_open_file_without_owner_runs_unloaded_code(lab):
    lab.module("nown", CHRDEV.replace("owner=THIS_MODULE, ", "").replace("cd_", "nown_"))
    k = lab.boot()
    assert lab.insmod("nown") == 0
    file = k.do("open", "/dev/cd")
    assert k.do("rmmod", "nown") == 0, "nothing pins the module"
    assert k.findings == []
    assert k.do("read", file, 1) is None
    f = lab.finding()
    assert (f.kind, f.title, f.module, f.function) == (
        "unloaded-code", "BUG: unable to handle page fault in nown_read", "nown", "nown_read")


def test_removed_node_keeps_open_files_and_refuses_new_opens(lab):
    lab.module("gone", """
        def gone_read(file, count):
            return b"x" * count


        def gone_ioctl(file, cmd, arg):
            misc_deregister(misc)
            return 0


        misc = MiscDevice(name="gone", fops=FileOperations(owner=THIS_MODULE, read=gone_read,
                                                           unlocked_ioctl=gone_ioctl))


        @module_init
        def gone_init():
            return misc_register(misc)


        @module_exit
        def gone_exit():
            pass
    """)
    k = lab.boot()
    assert lab.insmod("gone") == 0
    file = k.do("open", "/dev/gone")
    assert k.do("ioctl", file, 0, 0) == 0
    assert k.do("open", "/dev/gone") == -errno.ENOENT
    assert k.do("read", file, 3) == b"xxx"
    assert k.do("rmmod", "gone") == -errno.EBUSY, "the open file still pins the module"
    assert k.do("close", file) == 0
    assert k.do("rmmod", "gone") == 0
    assert k.findings == []
