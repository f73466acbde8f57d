"""Running programs: results, failed operations, settings, and the end-of-program clean-up."""

from kfuzz.kernel.signing import keygen, sign_file
from kfuzz.prog import parse_program, run_program

# A driver and a char device that log what the clean-up does to them.
DEV = """
    MODULE_DEVICE_TABLE = [pci_device_id(0x8086, 0x1234)]
    {top}


    def dv_open(inode, file):
        return 0


    def dv_read(file, count):
        {read}
        return b"d" * count


    def dv_ioctl(file, cmd, arg):
        {ioctl}
        return cmd


    def dv_release(inode, file):
        pr_info("release")
        return 0


    def dv_probe(dev, id):
        pr_info(f"probe {{dev.name}}")
        return 0


    def dv_remove(dev):
        pr_info(f"remove {{dev.name}}")


    fops = FileOperations(owner=THIS_MODULE, open=dv_open, read=dv_read, unlocked_ioctl=dv_ioctl,
                          release=dv_release)
    misc = MiscDevice(name="dv", fops=fops, mode=0o666)
    drv = Driver(name="dv", bus="pci", id_table=MODULE_DEVICE_TABLE, probe=dv_probe, remove=dv_remove)


    @module_init
    def dv_init():
        ret = misc_register(misc)
        if ret:
            return ret
        ret = driver_register(drv)
        if ret:
            misc_deregister(misc)
        return ret


    @module_exit
    def dv_exit():
        driver_unregister(drv)
        misc_deregister(misc)
        pr_info("exit")
"""

LIB = """
    def lib_fn():
        return 1


    EXPORT_SYMBOL(lib_fn)


    @module_init
    def lib_init():
        return 0


    @module_exit
    def lib_exit():
        pr_info("exit")
"""


def dev_module(lab, top="", read="pass", ioctl="pass"):
    return lab.module("dv", DEV.format(top=top, read=read, ioctl=ioctl))


def run(lab, tmp_path, body, header=""):
    names = " ".join(p.name for p in lab.paths)
    prog = parse_program(f"# modules: {names}\n{header}{body}", base_dir=tmp_path)
    return run_program(prog)


def texts(outcome):
    return [line.split("] ", 1)[1] for line in outcome.dmesg]


def test_each_line_has_a_result_and_a_failed_operation_does_not_stop_the_program(lab, tmp_path):
    dev_module(lab)
    out = run(lab, tmp_path, """\
insmod dv
insmod dv
open /dev/nosuch -> fd0
read fd0 4
open /dev/dv -> fd1
read fd1 3
ioctl fd1 0x10 0
as nobody insmod dv
plug pci 8086:1234 -> dev0
irq dev0
tick 5
""")
    # plain results: an int stays an int, an errno is its name, data its .kfz literal,
    # a bound object its name
    assert [r.result for r in out.results] == [
        0, "-EEXIST", "-ENOENT", "-EBADF", "fd1", '"ddd"', 16, "-EPERM", "dev0", 0, 0]
    assert out.results[6].op == "ioctl fd1 0x10 0"
    assert out.finding is None and not out.failed
    assert "E" in out.taints


def test_clean_up_closes_files_unplugs_devices_and_removes_users_first(lab, tmp_path):
    lab.module("lib", LIB)
    dev_module(lab, top='lib_fn = import_symbol("lib_fn")')
    out = run(lab, tmp_path, """\
modprobe dv
plug pci 8086:1234 -> dev0
open /dev/dv -> fd0
open /dev/dv -> fd1
close fd1
""")
    assert out.finding is None, out.finding
    mine = [t for t in texts(out) if t.startswith(("dv: ", "lib: ")) and "verification" not in t]
    assert mine == ["dv: probe 0000:00:01.0", "dv: release", "dv: release", "dv: remove 0000:00:01.0",
                    "dv: exit", "lib: exit"]


def test_the_first_finding_ends_the_program(lab, tmp_path):
    dev_module(lab, ioctl="WARN_ON(cmd == 7)")
    out = run(lab, tmp_path, """\
insmod dv
open /dev/dv -> fd0
ioctl fd0 7 0
ioctl fd0 8 0
""")
    assert (out.finding.kind, out.finding.title) == ("warning", "WARNING in dv_ioctl")
    assert [r.op for r in out.results] == ["insmod dv", "open /dev/dv -> fd0", "ioctl fd0 7 0"]
    assert "dv: exit" not in texts(out), "no clean-up after a finding"


def test_leaked_module_reference_is_a_refcount_finding_at_the_end(lab, tmp_path):
    dev_module(lab, ioctl="try_module_get(THIS_MODULE) if cmd == 1 else None")
    out = run(lab, tmp_path, """\
insmod dv
open /dev/dv -> fd0
ioctl fd0 1 0
close fd0
""")
    f = out.finding
    assert (f.kind, f.title, f.module, f.function) == (
        "refcount", "module dv: reference leaked in dv_ioctl", "dv", "dv_ioctl")


def test_leftover_found_at_the_clean_up(lab, tmp_path):
    dev_module(lab, top="def dv_tick(t):\n        pass\n\n\n    timer = timer_setup(dv_tick)",
               ioctl="mod_timer(timer, jiffies() + 100)")
    out = run(lab, tmp_path, "insmod dv\nopen /dev/dv -> fd0\nioctl fd0 1 0\n")
    assert (out.finding.kind, out.finding.title) == (
        "dangling-registration", "WARNING: dangling timer dv_tick after unload")


def test_permanent_module_stays_and_is_no_finding(lab, tmp_path):
    lab.module("perm", """
        buf = None


        @module_init
        def perm_init():
            global buf
            buf = kmalloc(8)
            return 0
    """)
    out = run(lab, tmp_path, "insmod perm\n")
    assert out.finding is None


def test_modules_disabled_does_not_stop_the_clean_up(lab, tmp_path):
    dev_module(lab)
    out = run(lab, tmp_path, "insmod dv\nsysctl kernel.modules_disabled 1\nrmmod dv\n")
    assert [r.result for r in out.results] == [0, 0, "-EPERM"]
    assert out.finding is None and "dv: exit" in texts(out)


def test_kernel_header_settings_apply(lab, tmp_path):
    dev_module(lab, ioctl="WARN_ON(1)")
    out = run(lab, tmp_path, "plug pci 8086:1234 -> dev0\n", header="# kernel: autoload=0\n")
    assert "dv: probe 0000:00:01.0" not in texts(out)
    out = run(lab, tmp_path, "plug pci 8086:1234 -> dev0\n")
    assert "dv: probe 0000:00:01.0" in texts(out), "autoload is on by default"
    out = run(lab, tmp_path, "insmod dv\nopen /dev/dv -> fd0\nioctl fd0 0 0\nread fd0 1\n",
              header="# kernel: panic_on_warn=1\n")
    assert [r.result for r in out.results] == [0, "fd0", None]
    assert out.finding.title == "WARNING in dv_ioctl"


def test_keyring_setting_is_the_trusted_key(lab, tmp_path):
    dev_module(lab)
    lab.module("lib", LIB)
    private, _ = keygen(tmp_path / "keys")
    sign_file(private, tmp_path / "dv.py")
    out = run(lab, tmp_path, "insmod dv\ninsmod lib\n",
              header="# kernel: sig_enforce=1 keyring=keys/signing_key.pub\n")
    assert [r.result for r in out.results] == [0, "-EKEYREJECTED"]
    assert out.taints == "G"


def test_fail_nth_on_a_line(lab, tmp_path):
    dev_module(lab)
    out = run(lab, tmp_path, "insmod dv (fail_nth: 2)\ninsmod dv\n")
    assert [r.result for r in out.results] == ["-ENOMEM", 0]
    assert "FAULT_INJECTION: forcing a failure: driver_register in dv_init" in texts(out)
    assert out.finding is None
