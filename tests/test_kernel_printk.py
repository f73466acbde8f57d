"""printk, pr_* and dev_* with printf formats (lib/vsprintf.c), their levels in dmesg, and
dynamic debug's `dyndbg` queries at load (lib/dynamic_debug.c)."""

import re

import pytest

from kfuzz.kapi import platform_device_id
from kfuzz.kernel.printf import hashed_pointer, vsprintf


def lines(lab):
    return [line.split("] ", 1)[1] for line in lab.kernel.log.dmesg()]


@pytest.mark.parametrize("fmt, args, text", [
    ("x=%d", (5,), "x=5"), ("%i|%u", (-3, -1), "-3|4294967295"), ("%x %X", (255, 255), "ff FF"),
    ("%lx", (-1,), "ffffffffffffffff"), ("%llu", (2**64 - 1,), "18446744073709551615"),
    ("%zu %zd", (7, -7), "7 -7"), ("%02x", (5,), "05"), ("[%-8s]", ("ab",), "[ab      ]"),
    ("[%8s]", ("ab",), "[      ab]"), ("[%*d]", (5, 42), "[   42]"), ("[%-*d]", (4, 7), "[7   ]"),
    ("%c%c", ("o", 107), "ok"), ("100%%", (1,), "100%"), ("%.3s", ("abcdef",), "abc"),
    ("%#x %#o", (255, 8), "0xff 010"), ("%+d % d", (3, 3), "+3  3"), ("%hhu", (257,), "1"),
    ("%s", (None,), "(null)"), ("%s", (0,), "(null)"), ("%s", (b"ab\0cd",), "ab"),
    ("%d", (None,), "0"), ("%05d", (-42,), "-0042"), ("%s", (5,), "(efault)"),
    ("a %d b", (1, 2, 3), "a 1 b"),  # arguments left over are ignored, as in C
])
def test_vsprintf_conversions(fmt, args, text):
    assert vsprintf("pr_info", fmt, args) == (text, None)


def test_p_is_a_hashed_pointer_never_the_id():
    obj = object()
    text, _ = vsprintf("pr_info", "%p %pK", (obj, obj))
    first, second = text.split()
    assert re.fullmatch(r"00000000[0-9a-f]{8}", first) and first == second
    assert int(first, 16) != id(obj) and hashed_pointer(None) == "0" * 16


@pytest.mark.parametrize("fmt, args, said", [
    ("%d %d", (1,), "wants an argument for %d, but it got 1 argument(s)"),
    ("%d", ("five",), "%d takes an integer, got str 'five'"),
    ("%s", (1.5,), "%s takes a str, bytes or kernel buffer, got float 1.5"),
])
def test_a_mismatch_is_a_misuse_at_the_module_line(lab, fmt, args, said):
    lab.device("pf", f"""
    def pf_ioctl(file, cmd, arg):
        pr_info({fmt!r}, *{args!r})
        return 0
    """)
    lab.boot()
    assert lab.insmod("pf") == 0
    assert lab.ioctl("pf") is None
    f = lab.finding()
    assert (f.title, f.function, f.site.line) == ("Oops: TypeError in pf_ioctl", "pf_ioctl", 6)
    assert said in f.message and "pr_info: format" in f.message


def test_an_unsupported_conversion_stops_the_output_and_warns_once(lab):
    lab.device("pf", """
    def pf_ioctl(file, cmd, arg):
        pr_info("count %n then %d", 1, 2)
        pr_info("again %n", 1)
        return 0
    """)
    lab.boot()
    assert lab.insmod("pf") == 0
    assert lab.ioctl("pf") == 0
    assert lab.findings() == [("warning", "WARNING: unsupported conversion in format string in pf_ioctl")]
    assert "pf: count " in lines(lab) and "pf: again " in lines(lab)
    assert "Please remove unsupported %n in format string" in lab.dmesg()


def test_formats_with_arguments_and_the_f_string_form(lab):
    lab.module("pf", """
        @module_init
        def pf_init():
            n = 3
            pr_info("ring at %d%% of %u", 50, 8)
            pr_info(f"f-string with {n} and a % sign kept")
            pr_err("%s: %04x", "state", 0xbe)
            printk(KERN_ERR + "level %d", 3)
            return 0
    """)
    lab.boot()
    assert lab.insmod("pf") == 0
    assert lines(lab)[-4:] == ["pf: ring at 50% of 8", "pf: f-string with 3 and a % sign kept",
                               "pf: state: 00be", "pf: level 3"]


def test_each_level_is_its_own_in_dmesg(lab):
    lab.module("lv", """
        @module_init
        def lv_init():
            pr_emerg("0")
            pr_alert("1")
            pr_crit("2")
            pr_err("3")
            pr_warn("4")
            pr_notice("5")
            pr_info("6")
            printk("default")
            printk(KERN_NOTICE + "notice")
            return 0
    """)
    lab.boot()
    assert lab.insmod("lv") == 0
    raw = [re.sub(r"\[[ .0-9]+\] ", "", line) for line in lab.kernel.log.raw()]
    assert raw[-9:] == ["<0>lv: 0", "<1>lv: 1", "<2>lv: 2", "<3>lv: 3", "<4>lv: 4", "<5>lv: 5",
                        "<6>lv: 6", "<4>lv: default", "<5>lv: notice"]


DBG = """
    def dbg_helper():
        pr_debug("helper %d", 2)


    @module_init
    def dbg_init():
        pr_debug("init %d", 1)
        dbg_helper()
        pr_info("up")
        return 0


    @module_exit
    def dbg_exit():
        pass
"""


@pytest.mark.parametrize("query, shown", [
    (None, []),
    ("+p", ["dbg: init 1", "dbg: helper 2"]),
    ("func dbg_helper +p", ["dbg: helper 2"]),
    ("+p;func dbg_helper -p", ["dbg: init 1"]),
    ("+pmf", ["dbg:dbg_init: dbg: init 1", "dbg:dbg_helper: dbg: helper 2"]),
    ("format helper +p", ["dbg: helper 2"]),
])
def test_pr_debug_follows_the_dyndbg_parameter(lab, query, shown):
    lab.module("dbg", DBG)
    lab.boot()
    params = {} if query is None else {"dyndbg": query}
    assert lab.insmod("dbg", **params) == 0
    assert [t for t in lines(lab) if "init 1" in t or "helper 2" in t] == shown
    assert "unknown parameter" not in lab.dmesg()
    levels = dict(zip(lab.kernel.log.lines, lab.kernel.log.levels, strict=True))
    assert all(level == 7 for line, level in levels.items() if "helper 2" in line or "init 1" in line)


def test_dyndbg_is_per_load_and_a_bad_query_does_not_stop_the_load(lab):
    lab.module("dbg", DBG)
    k = lab.boot()
    assert lab.insmod("dbg", dyndbg="+x") == 0
    assert "dyndbg: unknown flag 'x'" in lines(lab) and "dyndbg: flags parse failed" in lines(lab)
    assert k.do("rmmod", "dbg") == 0
    assert lab.insmod("dbg", dyndbg="+p") == 0 and "dbg: init 1" in lines(lab)
    assert k.do("rmmod", "dbg") == 0
    before = len(lines(lab))
    assert lab.insmod("dbg") == 0
    assert "dbg: init 1" not in lines(lab)[before:], "a new load starts with every site off"


DEV = """
    class Intf:
        def __init__(self, dev):
            self.dev = dev


    def dv_probe(dev, id):
        dev_info(dev, "bound %d", 1)
        dev_notice(Intf(dev), "via .dev")
        dev_warn(dv_misc, "misc %s", "node")
        dev_crit(None, "no device")
        dev_dbg(dev, "debug %d", 4)
        return 0


    def dv_ioctl(file, cmd, arg):
        dev_err(5, "not a device")
        return 0


    dv_fops = FileOperations(owner=THIS_MODULE, unlocked_ioctl=dv_ioctl)
    dv_misc = MiscDevice(name="dv", fops=dv_fops)
    drv = Driver(name="dvdrv", bus="platform", id_table=[platform_device_id("dvdev")], probe=dv_probe)


    @module_init
    def dv_init():
        return misc_register(dv_misc) or driver_register(drv)


    @module_exit
    def dv_exit():
        driver_unregister(drv)
        misc_deregister(dv_misc)
"""


@pytest.mark.parametrize("dyndbg", [False, True])
def test_dev_printk_takes_each_kind_of_device(lab, dyndbg):
    lab.module("dv", DEV)
    k = lab.boot(dyndbg=dyndbg)
    assert lab.insmod("dv") == 0
    dev = k.do("plug", "platform", platform_device_id("dvdev"))
    name = dev.name
    expected = [f"dvdrv {name}: bound 1", f"dvdrv {name}: via .dev", "misc dv: misc node",
                "(NULL device *): no device"] + ([f"dvdrv {name}: debug 4"] if dyndbg else [])
    assert lines(lab)[-len(expected):] == expected
    assert lab.kernel.log.levels[-len(expected):] == [6, 5, 4, 2] + ([7] if dyndbg else [])


def test_dev_printk_of_something_else_is_a_misuse(lab):
    lab.module("dv", DEV)
    lab.boot()
    assert lab.insmod("dv") == 0
    assert lab.ioctl("dv") is None
    f = lab.finding()
    assert (f.title, f.function) == ("Oops: TypeError in dv_ioctl", "dv_ioctl")
    assert "dev_err: the device takes a Device, a MiscDevice or an object with a .dev" in f.message
    assert "got int 5" in f.message


LAZY = """
    class Intf:
        def __init__(self, dev):
            self.dev = dev


    class State:
        interface = None


    st = State()


    def lz_probe(dev, id):
        st.interface = Intf(dev)
        dev_dbg(lambda: st.interface.dev, "bound")
        return 0


    def lz_remove(dev):
        st.interface = None  # the driver's "disconnected" flag, as yurex.c had it before 5.4
        # &st->interface->dev: an address C computes without a load
        dev_dbg(lambda: st.interface.dev, "gone")


    drv = Driver(name="lzdrv", bus="platform", id_table=[platform_device_id("lzdev")],
                 probe=lz_probe, remove=lz_remove)


    @module_init
    def lz_init():
        return driver_register(drv)


    @module_exit
    def lz_exit():
        driver_unregister(drv)
"""


@pytest.mark.parametrize("dyndbg", [False, True])
def test_dev_dbg_evaluates_a_lazy_device_only_with_its_site_on(lab, dyndbg):
    """dev_dbg is a macro whose arguments Linux evaluates only inside `if
    (DYNAMIC_DEBUG_BRANCH(id))`: a device given as a function is called only then, so
    dev_dbg(&NULL->dev, ...) is silent with the site off and an oops with it on."""
    lab.module("lz", LAZY)
    lab.boot(dyndbg=dyndbg)
    assert lab.insmod("lz") == 0
    dev = lab.kernel.do("plug", "platform", platform_device_id("lzdev"))
    assert (f"lzdrv {dev.name}: bound" in lines(lab)) == dyndbg
    lab.kernel.do("unplug", dev)
    oops = ("oops", "BUG: kernel NULL pointer dereference in lz_remove")
    assert lab.findings() == ([oops] if dyndbg else [])
