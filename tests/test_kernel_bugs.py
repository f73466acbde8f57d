"""WARN_ON, BUG_ON, BUG, panic and oopses; titles name the guilty module function."""

import pytest

BUGS = """
    got = []


    def bg_helper(x):
        return x.field


    def bg_ioctl(file, cmd, arg):
        {body}
        got.append("went on")
        return 0
"""


def bugs(lab, body, **config):
    code = "\n        ".join(body.strip("\n").splitlines())
    lab.device("bg", BUGS.format(body=code))
    k = lab.boot(**config)
    assert lab.insmod("bg") == 0, lab.dmesg()
    return k


def test_warn_on_returns_the_condition_and_warns_only_when_true(lab):
    k = bugs(lab, "got.append(WARN_ON(0))\ngot.append(WARN_ON([]))")
    lab.ioctl("bg")
    assert lab.ns("bg")["got"] == [False, False, "went on"]
    assert k.findings == [] and "W" not in k.taint_string()


def test_warn_on_true_taints_w_and_goes_on(lab):
    k = bugs(lab, "got.append(WARN_ON(arg > 3))")
    assert lab.ioctl("bg", 0, 5) == 0
    assert lab.ns("bg")["got"] == [True, "went on"]
    f = lab.finding()
    assert (f.kind, f.title, f.module, f.function) == ("warning", "WARNING in bg_ioctl", "bg", "bg_ioctl")
    assert "W" in k.taint_string()
    assert "WARNING in bg_ioctl" in lab.dmesg() and "Tainted: WE" in lab.dmesg()


@pytest.mark.parametrize("how", ["config", "sysctl"])
def test_panic_on_warn_stops_at_the_warning(lab, how):
    k = bugs(lab, "got.append(WARN_ON(1))", panic_on_warn=how == "config")
    if how == "sysctl":
        assert k.do("sysctl", "kernel.panic_on_warn", "1") == 0
    assert lab.ioctl("bg") is None
    assert lab.ns("bg")["got"] == []
    assert lab.findings() == [("warning", "WARNING in bg_ioctl")]


@pytest.mark.parametrize("body, title", [
    ("BUG_ON(arg == 1)", "kernel BUG in bg_ioctl"),
    ("BUG()", "kernel BUG in bg_ioctl"),
    ('panic("ring corrupted")', "kernel panic in bg_ioctl"),
])
def test_bug_on_bug_and_panic_stop_the_kernel(lab, body, title):
    k = bugs(lab, body)
    assert lab.ioctl("bg", 0, 1) is None
    assert lab.ns("bg")["got"] == []
    assert lab.findings() == [("bug", title)]
    assert "D" in k.taint_string()
    if "panic" in body:
        assert "Kernel panic - not syncing: ring corrupted" in lab.dmesg()


def test_bug_on_false_does_nothing(lab):
    k = bugs(lab, "BUG_ON(arg == 1)")
    assert lab.ioctl("bg", 0, 0) == 0
    assert k.findings == []


@pytest.mark.parametrize("body, title", [
    ("bg_helper(None)", "BUG: kernel NULL pointer dereference in bg_helper"),
    ("None.count += 1", "BUG: kernel NULL pointer dereference in bg_ioctl"),
    ("1 // arg", "divide error in bg_ioctl"),  # arch/x86/kernel/traps.c: #DE
    ("raise RuntimeError('no')", "Oops: RuntimeError in bg_ioctl"),
    ("kmalloc(4)['x']", "Oops: TypeError in bg_ioctl"),
])
def test_exception_escaping_module_code_is_an_oops_in_the_innermost_module_frame(lab, body, title):
    k = bugs(lab, body)
    assert lab.ioctl("bg", 0, 0) is None
    f = lab.finding()
    assert (f.kind, f.title, f.module) == ("oops", title, "bg")
    assert "D" in k.taint_string()
    assert all("kfuzz/kernel" not in line for line in f.traceback), f.traceback


def test_except_exception_in_module_code_cannot_swallow_a_finding(lab):
    bugs(lab, """
buf = kmalloc(4)
kfree(buf)
try:
    kfree(buf)
except Exception:
    pass
""")
    lab.ioctl("bg")
    assert lab.ns("bg")["got"] == []
    assert lab.findings() == [("double-free", "KASAN: double-free in bg_ioctl")]


def test_exception_in_a_module_body_is_an_oops_at_insmod(lab):
    lab.module("body", """
        limit = 1 // 0


        @module_init
        def body_init():
            return 0
    """)
    k = lab.boot()
    assert lab.insmod("body") is None
    assert lab.findings() == [("oops", "divide error in body_module_body")]
    assert k.findings[0].function == "body_module_body"


def test_title_names_the_module_function_not_the_exported_helper_of_the_kernel(lab):
    lab.module("lib", """
        def lib_copy(buf, data):
            buf[0:len(data)] = data


        EXPORT_SYMBOL(lib_copy)


        @module_init
        def lib_init():
            return 0


        @module_exit
        def lib_exit():
            pass
    """)
    lab.module("user", """
        lib_copy = import_symbol("lib_copy")


        @module_init
        def user_init():
            buf = kmalloc(2)
            lib_copy(buf, b"abc")
            kfree(buf)
            return 0
    """)
    k = lab.boot()
    assert k.do("modprobe", "user", {}) is None
    f = lab.finding()
    assert (f.kind, f.title, f.module, f.function) == (
        "out-of-bounds", "KASAN: slab-out-of-bounds in lib_copy", "lib", "lib_copy")
    assert [line.split(", in ")[1].split()[0] for line in f.traceback] == ["user_init", "lib_copy"]
