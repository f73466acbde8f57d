"""The small things a port trips on: container_of and from_timer, module_platform_driver,
the unsigned and charp parameters, MODULE_ALIAS, IDA, kstrdup and friends, capable(),
misuse of an API failing at the module's line, proc_create with a NULL parent."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from kfuzz.cli import main
from kfuzz.kapi import platform_device_id
from kfuzz.kernel import ModuleFileError, read_image

# -- container_of ----------------------------------------------------------------------

CONTAINER = """
    got = []


    def co_free(kref):
        st = container_of(kref, "struct co_dev", "kref")
        got.append(("kref", st.name))
        kfree(st)


    def co_work(work):
        st = container_of(work, "struct co_dev", "work")
        got.append(("work", st.name))


    def co_tick(timer):
        st = from_timer(None, timer, "timer")
        got.append(("timer", st.name))


    def co_ioctl(file, cmd, arg):
        st = kzalloc(64)
        st.name = "dev%d" % arg
        st.kref = kref_init()
        st.work = INIT_WORK(co_work)
        st.timer = timer_setup(co_tick)
        schedule_work(st.work)
        flush_work(st.work)
        mod_timer(st.timer, jiffies() + 1)
        msleep(20)
        del_timer_sync(st.timer)
        if cmd == 2:
            container_of(st.kref, None, "ref")
        if cmd == 3:
            container_of(kref_init(), None, "kref")
        kref_put(st.kref, co_free)
        return 0
"""


def test_container_of_from_a_kref_a_work_and_a_timer(lab):
    lab.device("co", CONTAINER)
    k = lab.boot()
    assert lab.insmod("co") == 0
    assert lab.ioctl("co", 1, 7) == 0
    assert lab.ns("co")["got"] == [("work", "dev7"), ("timer", "dev7"), ("kref", "dev7")]
    k.do("close", lab.files["co"])
    assert k.do("rmmod", "co") == 0
    assert k.findings == [], lab.dmesg()  # the release freed it: no leak


@pytest.mark.parametrize("cmd, said", [
    (2, "is field 'kref' of <kbuf 64 bytes live>, not 'ref'"),
    (3, "ptr takes a member of kmalloc'd memory"),
])
def test_container_of_with_a_wrong_member_is_a_misuse_at_the_call(lab, cmd, said):
    lab.device("co", CONTAINER)
    lab.boot()
    assert lab.insmod("co") == 0
    assert lab.ioctl("co", cmd, 1) is None
    f = [f for f in lab.kernel.findings if f.kind == "oops"][0]
    assert (f.title, f.function) == ("Oops: TypeError in co_ioctl", "co_ioctl")
    assert f.message.startswith("Oops: TypeError: container_of: ") and said in f.message


# -- module_platform_driver --------------------------------------------------------------

PLATFORM = """
    def pd_probe(dev, id):
        st = devm_kzalloc(dev, 16)
        if st is None:
            return -ENOMEM
        dev_set_drvdata(dev, st)
        dev_info(dev, "probed")
        return 0


    def pd_remove(dev):
        dev_info(dev, "removed")


    MODULE_DEVICE_TABLE = [platform_device_id("pd")]
    pd_driver = Driver(name="pd", bus="platform", id_table=MODULE_DEVICE_TABLE, probe=pd_probe,
                       remove=pd_remove)
    module_platform_driver(pd_driver)
"""


def test_module_platform_driver_loads_binds_and_unloads_clean(lab):
    path = lab.module("pd", PLATFORM)
    k = lab.boot()
    image = read_image(path)
    assert image.has_init and image.has_exit
    assert lab.insmod("pd") == 0
    dev = k.do("plug", "platform", platform_device_id("pd"))
    assert dev.driver is not None and dev.driver.name == "pd"
    assert k.do("rmmod", "pd") == 0
    assert dev.driver is None
    assert k.findings == [], lab.dmesg()
    assert f"pd {dev.name}: removed" in lab.dmesg()


def test_module_pci_driver_of_a_platform_driver_is_a_misuse(lab):
    lab.module("pd", PLATFORM.replace("module_platform_driver", "module_pci_driver"))
    lab.boot()
    assert lab.insmod("pd") is None
    f = lab.finding()
    assert f.title == "Oops: TypeError in pd_module_body"
    assert "module_pci_driver: the driver takes a Driver of bus 'pci', got str 'platform'" in f.message


# -- parameters ---------------------------------------------------------------------------

PARAMS = """
    u = module_param("u", uint, 7)
    ul = module_param("ul", ulong, 0)
    us = module_param("us", ushort, 0)
    b = module_param("b", byte, 0)
    label = module_param("label", charp, "none")


    @module_init
    def pr_init():
        return 0


    @module_exit
    def pr_exit():
        pass
"""


@pytest.mark.parametrize("param, text, value", [
    ("u", "4294967295", 4294967295), ("u", "0x10", 16), ("u", "+5", 5),
    ("ul", "18446744073709551615", 2**64 - 1), ("us", "65535", 65535), ("b", "255", 255),
    ("label", "eth0", "eth0"), ("u", None, 7), ("label", None, "none"),
])
def test_unsigned_and_charp_parameters(lab, param, text, value):
    lab.module("pr", PARAMS)
    lab.boot()
    assert lab.insmod("pr", **({param: text} if text is not None else {})) == 0
    assert lab.ns("pr")[param] == value


@pytest.mark.parametrize("param, text, err, said", [
    ("u", "4294967296", -34, "`4294967296' invalid for parameter `u'"),
    ("u", "-1", -22, "`-1' invalid for parameter `u'"),
    ("us", "65536", -34, "`65536' invalid for parameter `us'"),
    ("b", "256", -34, "`256' invalid for parameter `b'"),
    ("ul", "18446744073709551616", -34, "invalid for parameter `ul'"),
    ("label", "x" * 1025, -28, "too large for parameter `label'"),
])
def test_out_of_range_values_are_refused_as_linux_refuses_them(lab, param, text, err, said):
    lab.module("pr", PARAMS)
    lab.boot()
    assert lab.insmod("pr", **{param: text}) == err
    assert said in lab.dmesg() and "pr" not in lab.kernel.loader.modules


def test_a_default_out_of_its_type_is_refused_by_modinfo(lab):
    path = lab.module("pr", 'b = module_param("b", byte, 300)\n')
    with pytest.raises(ModuleFileError, match="default 300 is not a byte"):
        read_image(path)


# -- MODULE_ALIAS ---------------------------------------------------------------------------

ALIASED = """
    MODULE_ALIAS = ["char-major-10-200", "platform:al*"]


    def al_probe(dev, id):
        return 0


    al_driver = Driver(name="al", bus="platform", id_table=[platform_device_id("alpha")], probe=al_probe)
    module_platform_driver(al_driver)
"""


def test_module_alias_is_in_modinfo_and_found_by_modprobe(lab, tmp_path: Path):
    path = lab.module("al", ALIASED)
    result = CliRunner().invoke(main, ["modinfo", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    aliases = [line.split(None, 1)[1].strip() for line in result.output.splitlines()
               if line.startswith("alias")]
    assert aliases == ["char-major-10-200", "platform:al*"]
    k = lab.boot()
    assert k.do("modprobe", "char-major-10-200") == 0 and "al" in k.loader.modules
    assert k.do("rmmod", "al") == 0
    assert k.do("modprobe", "no-such-alias") == -2
    dev = k.do("plug", "platform", platform_device_id("alpha"))  # autoload by the alias pattern
    assert "al" in k.loader.modules and dev.driver is not None


def test_a_bad_module_alias_is_a_module_file_error(lab):
    path = lab.module("al", "MODULE_ALIAS = 5\n")
    with pytest.raises(ModuleFileError, match="MODULE_ALIAS is 5, not a string"):
        read_image(path)


# -- IDA ------------------------------------------------------------------------------------

IDA = """
    ids = DEFINE_IDA()
    got = []


    def ida_ioctl(file, cmd, arg):
        if cmd == 1:
            got.append(ida_alloc(ids))
        elif cmd == 2:
            ida_free(ids, arg)
        elif cmd == 3:
            got.append(ida_alloc_range(ids, arg, arg + 1))
        elif cmd == 4:
            got.append(ida_alloc_max(ids, arg))
        elif cmd == 5:
            ida_destroy(ids)
        return 0
"""


def test_ida_allocates_the_lowest_free_id_and_frees(lab):
    lab.device("ida", IDA)
    lab.boot()
    assert lab.insmod("ida") == 0
    for _ in range(3):
        lab.ioctl("ida", 1)
    lab.ioctl("ida", 2, 1)
    lab.ioctl("ida", 1)  # 1 again: the lowest free
    lab.ioctl("ida", 3, 10)
    lab.ioctl("ida", 3, 10)
    lab.ioctl("ida", 3, 10)  # 10 and 11 taken: -ENOSPC
    lab.ioctl("ida", 4, 2)  # 0..2 taken: -ENOSPC
    lab.ioctl("ida", 5)
    lab.ioctl("ida", 1)
    assert lab.ns("ida")["got"] == [0, 1, 2, 1, 10, 11, -28, -28, 0]
    assert lab.kernel.findings == []


def test_ida_free_of_an_id_not_allocated_warns(lab):
    lab.device("ida", IDA)
    lab.boot()
    assert lab.insmod("ida") == 0
    lab.ioctl("ida", 2, 4)
    f = lab.finding()
    assert (f.kind, f.title) == ("warning", "WARNING: ida_free of an id not allocated in ida_ioctl")
    assert f.message == "ida_free called for id=4 which is not allocated."


def test_ida_alloc_fails_with_enomem_under_fault_injection(lab):
    lab.device("ida", IDA)
    k = lab.boot()
    assert lab.insmod("ida") == 0
    file = k.do("open", "/dev/ida")
    assert k.do("ioctl", file, 1, 0, fail_nth=1) == 0
    assert lab.ns("ida")["got"] == [-12]


# -- kstrdup and friends --------------------------------------------------------------------

STRDUP = """
    kept = []


    def sd_ioctl(file, cmd, arg):
        s = kstrdup("name%d" % arg, GFP_KERNEL)
        if cmd == 1:
            kept.append(bytes(s))
            kfree(s)
        elif cmd == 2:
            s = None  # the only reference goes: a leak
        elif cmd == 3:
            m = kmemdup(b"abcdef", 4)
            n = kstrndup("abcdef", 2)
            kept.extend([bytes(m), bytes(n)])
            kvfree(m)
            kfree(n)
            kfree(s)
            v = kvzalloc(8 << 20)
            kvfree(v)
        return 0
"""


def test_kstrdup_is_a_tracked_allocation(lab):
    lab.device("sd", STRDUP)
    k = lab.boot()
    assert lab.insmod("sd") == 0
    assert lab.ioctl("sd", 1, 7) == 0 and lab.ioctl("sd", 3) == 0
    assert lab.ns("sd")["kept"] == [b"name7\0", b"abcd", b"ab\0"]
    assert k.findings == []
    lab.ioctl("sd", 2, 1)
    assert lab.findings() == [("memory-leak", "memory leak in sd_ioctl")]


def test_kstrdup_fails_under_fault_injection(lab):
    lab.device("sd", "got = []\n\n\ndef sd_ioctl(file, cmd, arg):\n"
               "    got.append(kstrdup('x'))\n    return 0\n")
    k = lab.boot()
    assert lab.insmod("sd") == 0
    file = k.do("open", "/dev/sd")
    assert k.do("ioctl", file, 0, 0, fail_nth=1) == 0
    assert lab.ns("sd")["got"] == [None] and k.findings == []


# -- capable ------------------------------------------------------------------------------

def test_capable_follows_the_programs_uid(lab):
    lab.device("cp", """
    def cp_ioctl(file, cmd, arg):
        return 0 if capable(CAP_SYS_ADMIN) and capable(CAP_NET_ADMIN) and capable(CAP_SYS_RAWIO) else -EPERM
    """)
    k = lab.boot()
    assert lab.insmod("cp") == 0
    file = k.do("open", "/dev/cp")
    assert k.do("ioctl", file, 0, 0) == 0
    assert k.do("ioctl", file, 0, 0, nobody=True) == -1


# -- misuse: a wrong argument fails at the call, at the module's line ------------------------

@pytest.mark.parametrize("call, said", [
    ("misc_register(5)", "misc_register: the misc device takes a MiscDevice(name=\"...\", fops=...), "
                         "got int 5"),
    ("register_chrdev(0, \"x\", None)", "register_chrdev: fops takes a FileOperations, got None"),
    ("request_irq(None, lambda i, d: 0, 0, \"x\", None)", "request_irq: irq takes an interrupt line"),
    ("request_irq(5, 0, 0, \"x\", None)", "request_irq: handler takes a function handler(irq, dev_id), "
                                         "got int 0"),
    ("timer_setup(kmalloc(8), lambda t: 0, 0)", "timer_setup() takes from 1 to 2 positional arguments "
                                                "but 3 were given"),  # C's timer_setup(&t, fn, 0)
    ("timer_setup(0)", "timer_setup: callback takes a function: timer = timer_setup(callback, flags), "
                       "got int 0"),
    ("INIT_WORK(3)", "INIT_WORK: func takes a function: work = INIT_WORK(func), got int 3"),
    ("driver_register(\"drv\")", "driver_register: the driver takes a Driver(name=, bus=, id_table=, "
                                 "probe=), got str 'drv'"),
    ("kref_put(kref_init(), None)", "kref_put: release takes a function release(kref), got None"),
    ("mutex_lock(spin_lock_init())", "mutex_lock: the lock takes a Mutex (DEFINE_MUTEX() or mutex_init()), "
                                     "got SpinLock"),
    ("proc_create(\"x\", 0, None, 7)", "proc_create: proc_ops takes a FileOperations, got int 7"),
    ("proc_create(\"x\", 0, None)", "proc_create: proc_ops takes a FileOperations, got nothing"),
    ("pr_info(5, 1)", "pr_info: the format takes a str"),
])
def test_a_wrong_argument_is_a_misuse_naming_api_got_and_takes(lab, call, said):
    lab.device("mu", f"""
    def mu_ioctl(file, cmd, arg):
        {call}
        return 0
    """)
    lab.boot()
    assert lab.insmod("mu") == 0
    assert lab.ioctl("mu") is None
    f = lab.finding()
    assert (f.kind, f.title, f.function) == ("oops", "Oops: TypeError in mu_ioctl", "mu_ioctl")
    assert f.site.line == 6, "the module line of the call"
    assert said in f.message, f.message
    assert all("kfuzz/kernel" not in line for line in f.traceback), f.traceback


def test_proc_create_with_a_null_parent_as_linux_writes_it(lab):
    lab.module("pc", """
        def pc_read(file, count):
            data = b"hello\\n"[file.f_pos:file.f_pos + count]
            file.f_pos += len(data)
            return data


        pc_ops = FileOperations(read=pc_read)


        @module_init
        def pc_init():
            if proc_create("pc", 0, NULL, pc_ops) is None:
                return -ENOMEM
            return 0 if proc_create_data("pc2", 0o444, None, pc_ops, "data") is not None else -ENOMEM


        @module_exit
        def pc_exit():
            remove_proc_entry("pc")
            remove_proc_entry("pc2")
    """.replace("NULL", "None"))
    k = lab.boot()
    assert lab.insmod("pc") == 0
    file = k.do("open", "/proc/pc")
    assert k.do("read", file, 64) == b"hello\n"
    assert k.fs.nodes["/proc/pc2"].obj.data == "data"
    k.do("close", file)
    assert k.do("rmmod", "pc") == 0 and k.findings == []


def test_module_platform_driver_init_is_the_macros_line_in_the_module(lab):
    """The generated pd_driver_init (the global pd_driver, pasted as `__driver##_init`) is module code at the module_platform_driver line: a fault
    injected into its driver_register is blamed there, and the load fails clean."""
    path = lab.module("pd", PLATFORM)
    k = lab.boot()
    assert k.do("insmod", "pd", {}, fail_nth=1) == -12
    site = k.faults.failed_at
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if text.startswith("module_platform_driver("))
    assert (site.function, site.filename, site.lineno) == ("pd_driver_init", str(path), line)
    assert k.findings == [] and "pd" not in k.loader.modules
