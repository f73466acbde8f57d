"""The kernel log: printk and friends, dev_ logs, and print() from module code."""

import re
import textwrap

import pytest

from kfuzz.kapi import platform_device_id
from kfuzz.prog import ProgramError, parse_program, run_program


def lines(lab):
    """dmesg without timestamps."""
    return [line.split("] ", 1)[1] for line in lab.kernel.log.dmesg()]


def test_printk_family_writes_dmesg_with_the_module_name(lab):
    lab.module("lg", """
        @module_init
        def lg_init():
            printk("one")
            pr_info("two")
            pr_warn("three")
            pr_err("four")
            pr_debug("five")
            return 0
    """)
    lab.boot()
    assert lab.insmod("lg") == 0
    assert lines(lab)[-4:] == ["lg: one", "lg: two", "lg: three", "lg: four"]
    assert "lg: five" not in lines(lab)


PR_DEBUG = """
    @module_init
    def dbg_init():
        pr_debug("state=1")
        pr_info("up")
        return 0
"""


@pytest.mark.parametrize("dyndbg", [False, True])
def test_pr_debug_prints_only_with_dyndbg(lab, dyndbg):
    """Dynamic debug (lib/dynamic_debug.c): pr_debug call sites are off until enabled."""
    lab.module("dbg", PR_DEBUG)
    lab.boot(dyndbg=dyndbg)
    assert lab.insmod("dbg") == 0
    expected = ["dbg: state=1", "dbg: up"] if dyndbg else ["dbg: up"]
    assert [t for t in lines(lab) if t.startswith("dbg: ") and "verification" not in t] == expected


def test_dyndbg_is_a_kernel_setting_of_a_program(tmp_path):
    path = tmp_path / "dbg.py"
    path.write_text("from kfuzz.kapi import *\nMODULE_LICENSE = 'GPL'\n"
                    + textwrap.dedent(PR_DEBUG))
    for setting, shown in (("# kernel: dyndbg=1\n", True), ("", False)):
        prog = parse_program(f"# modules: dbg.py\n{setting}insmod dbg\n", base_dir=tmp_path)
        text = [line.split("] ", 1)[1] for line in run_program(prog).dmesg]
        assert ("dbg: state=1" in text) is shown


@pytest.mark.parametrize("value", ["2", "+p", ""])
def test_a_bad_dyndbg_value_is_a_clear_error(tmp_path, value):
    with pytest.raises(ProgramError, match=f"kernel setting dyndbg is 0 or 1, not '{re.escape(value)}'"):
        parse_program(f"# kernel: dyndbg={value}\n", base_dir=tmp_path, where="r.kfz")


def test_a_message_that_names_its_module_is_not_prefixed_twice(lab):
    lab.module("ringdev", """
        @module_init
        def ringdev_init():
            pr_info("ringdev: ready")
            pr_info("ringdevice found")
            printk("ringdev:no space")
            return 0
    """)
    lab.boot()
    assert lab.insmod("ringdev") == 0
    assert [t for t in lines(lab) if "ring" in t and "verification" not in t] == [
        "ringdev: ready", "ringdev: ringdevice found", "ringdev:no space"]


def test_dev_info_and_dev_err_name_the_driver_and_the_device(lab):
    lab.module("lg", """
        def lg_probe(dev, id):
            dev_info(dev, "bound")
            dev_err(dev, "but unhappy")
            return 0


        drv = Driver(name="lgdrv", bus="platform", id_table=[platform_device_id("lgdev")],
                     probe=lg_probe)


        @module_init
        def lg_init():
            return driver_register(drv)


        @module_exit
        def lg_exit():
            driver_unregister(drv)
    """)
    k = lab.boot()
    lab.insmod("lg")
    dev = k.do("plug", "platform", platform_device_id("lgdev"))
    assert lines(lab)[-2:] == [f"lgdrv {dev.name}: bound", f"lgdrv {dev.name}: but unhappy"]


def test_dmesg_timestamps_follow_the_clock(lab):
    k = lab.boot()
    k.do("tick", 150)
    k.do("irq", 3)
    assert lab.kernel.log.dmesg()[-1].startswith("[    1.500000] irq 3: nobody cared")


def test_print_in_module_code_lands_in_dmesg(lab, tmp_path, capsys):
    path = lab.module("pr", """
        @module_init
        def pr_init():
            print("hello from init")
            print("two", "words", end="!\\n")
            return 0


        @module_exit
        def pr_exit():
            print("bye")
    """)
    prog = parse_program(f"# modules: {path.name}\ninsmod pr\nrmmod pr\n", base_dir=tmp_path)
    outcome = run_program(prog)
    text = [line.split("] ", 1)[1] for line in outcome.dmesg]
    printed = ["hello from init", "two words!", "bye"]
    assert [t for t in text if t in printed] == printed, text
    assert capsys.readouterr().out == ""


# -- WARN_ON_ONCE: once per call site, per load of the module ------------------------------

ONCE = """
    got = []


    def wo_check(value):
        return WARN_ON_ONCE(value > 1)


    def wo_ioctl(file, cmd, arg):
        if cmd == 1:
            got.append(wo_check(arg))
        if cmd == 2:
            got.append(WARN_ON_ONCE(arg > 1))
        return 0
"""


def test_warn_on_once_warns_the_first_time_at_its_site_only(lab):
    lab.device("wo", ONCE)
    k = lab.boot()
    assert lab.insmod("wo") == 0
    for arg in (0, 5, 7):
        lab.ioctl("wo", 1, arg)
    assert lab.findings() == [("warning", "WARNING in wo_check")]
    assert "W" in k.taints and lab.dmesg().count("WARN_ON_ONCE(cond) triggered") == 1
    assert lab.ns("wo")["got"] == [False, True, True], "the condition is returned every time"
    lab.ioctl("wo", 2, 9)  # another call site has its own flag
    assert lab.findings() == [("warning", "WARNING in wo_check"), ("warning", "WARNING in wo_ioctl")]


def test_warn_on_once_warns_again_after_the_module_is_reloaded(lab):
    """The __warned flag is a static in the module's .data: a new load has a new one."""
    lab.device("wo", ONCE)
    k = lab.boot()
    assert lab.insmod("wo") == 0
    lab.ioctl("wo", 1, 5)
    k.do("close", lab.files.pop("wo"))
    assert k.do("rmmod", "wo") == 0 and lab.insmod("wo") == 0
    lab.ioctl("wo", 1, 5)
    lab.ioctl("wo", 1, 5)
    assert lab.findings() == [("warning", "WARNING in wo_check")] * 2


def test_warn_on_once_with_a_false_condition_is_silent(lab):
    lab.device("wo", ONCE)
    k = lab.boot()
    assert lab.insmod("wo") == 0
    lab.ioctl("wo", 1, 0)
    assert k.findings == [] and lab.ns("wo")["got"] == [False] and "W" not in k.taints


# -- taint B: after a memory-corruption report (mm/kasan/report.c end_report) --------------

@pytest.mark.parametrize("body, kind", [
    ("b = kmalloc(8, GFP_KERNEL)\n        kfree(b)\n        b.x = 1", "use-after-free"),
    ("b = kmalloc(8, GFP_KERNEL)\n        kfree(b)\n        kfree(b)", "double-free"),
    ("b = kmalloc(8, GFP_KERNEL)\n        b[8] = 1", "out-of-bounds"),
])
def test_a_kasan_report_taints_the_kernel_b(lab, body, kind):
    lab.device("kb", f"""
    def kb_ioctl(file, cmd, arg):
        {body}
        return 0
    """)
    k = lab.boot()
    assert lab.insmod("kb") == 0
    lab.ioctl("kb")
    assert [f.kind for f in k.findings] == [kind]
    assert k.taint_string() == "BE", "kernel/panic.c's order: B before E (the unsigned module)"
    assert "Tainted: E" in lab.dmesg(), "the report's own Tainted line comes before the taint"


def test_a_warning_taints_w_not_b(lab):
    lab.device("kw", """
    def kw_ioctl(file, cmd, arg):
        WARN_ON(True)
        return 0
    """)
    k = lab.boot()
    assert lab.insmod("kw") == 0
    lab.ioctl("kw")
    assert "W" in k.taints and "B" not in k.taints
