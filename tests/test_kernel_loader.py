"""The loader: insmod, rmmod, modprobe, depmod, symbols, parameters, licences."""

import errno

import pytest

from kfuzz.kernel import ModuleIndex

EXPORTER = """
    def a_get():
        return 42


    EXPORT_SYMBOL(a_get)


    @module_init
    def a_init():
        pr_info("a up")
        return 0


    @module_exit
    def a_exit():
        pr_info("a down")
"""

IMPORTER = """
    a_get = import_symbol("a_get")
    got = None


    @module_init
    def b_init():
        global got
        got = a_get()
        pr_info("b up")
        return 0


    @module_exit
    def b_exit():
        pr_info("b down")
"""


def plain(name, init_body="return 0", exit_body="pass", top=""):
    """A module with an init and an exit that log, plus what the test adds."""
    return f"""
{top}

@module_init
def {name}_init():
    pr_info("{name} up")
    {init_body}


@module_exit
def {name}_exit():
    pr_info("{name} down")
    {exit_body}
"""


def order(lab, *words):
    """The dmesg lines that mention any of `words`, in order, without timestamps."""
    lines = [line.split("] ", 1)[1] for line in lab.kernel.log.dmesg()]
    return [line for line in lines if any(w in line for w in words)]


# -- insmod and rmmod -------------------------------------------------------------------

def test_insmod_runs_init_and_rmmod_runs_exit(lab):
    lab.module("m", plain("m"))
    k = lab.boot()
    assert k.do("insmod", "m", {}) == 0
    assert [line.split()[0] for line in lab.lsmod()] == ["m"]
    assert k.do("rmmod", "m") == 0
    assert lab.lsmod() == []
    assert order(lab, "m up", "m down") == ["m: m up", "m: m down"]
    assert k.findings == []


def test_module_variables_start_over_at_each_insmod(lab):
    lab.module("m", """
        loads = 0


        @module_init
        def m_init():
            global loads
            loads += 1
            return 0


        @module_exit
        def m_exit():
            pass
    """)
    k = lab.boot()
    first = None
    for _ in range(3):
        assert lab.insmod("m") == 0
        assert lab.ns("m")["loads"] == 1
        this = lab.ns("m")["THIS_MODULE"]
        assert this.name == "m" and this is not first
        first = this
        assert k.do("rmmod", "m") == 0


def test_module_init_and_exit_work_as_calls(lab):
    lab.module("calls", """
        def calls_setup():
            pr_info("calls up")
            return 0


        def calls_teardown():
            pr_info("calls down")


        module_init(calls_setup)
        module_exit(calls_teardown)
    """)
    k = lab.boot()
    assert lab.insmod("calls") == 0 and k.do("rmmod", "calls") == 0
    assert order(lab, "calls up", "calls down") == ["calls: calls up", "calls: calls down"]


@pytest.mark.parametrize("ret, logged", [("None", False), ("5", True)])
def test_init_returning_none_or_positive_counts_as_success(lab, ret, logged):
    lab.module("m", plain("m", f"return {ret}"))
    lab.boot()
    assert lab.insmod("m") == 0
    assert ("init suspiciously returned 5" in lab.dmesg()) is logged


def test_insmod_of_a_loaded_module_is_eexist_and_of_an_unknown_one_enoent(lab):
    lab.module("m", plain("m"))
    k = lab.boot()
    assert lab.insmod("m") == 0
    assert lab.insmod("m") == -errno.EEXIST
    assert lab.insmod("nosuch") == -errno.ENOENT
    assert k.do("rmmod", "nosuch") == -errno.ENOENT
    assert k.do("modprobe", "nosuch", {}) == -errno.ENOENT
    assert k.do("modprobe_remove", "nosuch") == -errno.ENOENT


def test_module_code_may_import_more_than_kapi(lab):
    lab.module("m", plain("m", "return 0 if os.sep else -EINVAL", top="import os"))
    lab.boot()
    assert lab.insmod("m") == 0


def test_init_returning_errno_fails_the_load_without_a_finding(lab):
    lab.module("m", plain("m", "return -ENODEV"))
    k = lab.boot()
    assert lab.insmod("m") == -errno.ENODEV
    assert lab.lsmod() == [] and k.findings == []
    assert "m: init failed with error -ENODEV" in lab.dmesg()
    assert lab.insmod("m") == -errno.ENODEV  # and it can be tried again


def test_failed_init_leftovers_are_bugs_of_the_module(lab):
    lab.module("leaky", """
        @module_init
        def leaky_init():
            buf = kmalloc(8)
            buf[0] = 1
            return -ENOMEM
    """)
    k = lab.boot()
    k.do("insmod", "leaky", {})
    assert lab.findings() == [("memory-leak", "memory leak in leaky_init")]
    assert "leaky: init failed with error -ENOMEM" in lab.dmesg()


def test_permanent_module_cannot_be_removed_unless_forced(lab):
    lab.module("perm", """
        @module_init
        def perm_init():
            return 0
    """)
    k = lab.boot()
    assert lab.insmod("perm") == 0
    assert k.do("rmmod", "perm") == -errno.EBUSY
    assert lab.lsmod()[0].endswith("[permanent]"), lab.lsmod()
    assert "R" not in k.taint_string()
    assert k.do("rmmod", "perm", True) == 0
    assert lab.lsmod() == []
    assert "R" in k.taint_string()


LIBRARY = """
    def lib_sum(a, b):
        return a + b


    EXPORT_SYMBOL(lib_sum)
"""


def test_a_module_without_init_is_a_library_that_loads_and_can_be_removed(lab):
    """kernel/module/main.c: mod->init may be NULL (do_one_initcall is skipped), and
    delete_module refuses only a module with an init and no exit."""
    lab.module("lib", LIBRARY)
    lab.module("user", """
        lib_sum = import_symbol("lib_sum")
        total = lib_sum(2, 3)


        @module_init
        def user_init():
            return 0


        @module_exit
        def user_exit():
            pass
    """)
    k = lab.boot()
    assert k.do("modprobe", "user", {}) == 0
    assert lab.ns("user")["total"] == 5
    assert not any("[permanent]" in line for line in lab.lsmod()), lab.lsmod()
    assert k.do("rmmod", "lib") == -errno.EBUSY  # in use by user
    assert k.do("rmmod", "user") == 0
    assert k.do("rmmod", "lib") == 0
    assert k.loader.modules == {} and k.findings == []


def test_a_module_with_an_exit_and_no_init_can_be_removed(lab):
    lab.module("onlyexit", """
        @module_exit
        def onlyexit_exit():
            pr_info("onlyexit down")
    """)
    k = lab.boot()
    assert lab.insmod("onlyexit") == 0
    assert k.do("rmmod", "onlyexit") == 0
    assert "onlyexit: onlyexit down" in lab.dmesg()


def test_forced_rmmod_of_a_pinned_module_taints_R(lab):
    lab.device("pin")
    k = lab.boot()
    assert lab.insmod("pin") == 0
    file = k.do("open", "/dev/pin")
    assert k.do("rmmod", "pin") == -errno.EBUSY
    assert "R" not in k.taint_string()
    assert k.do("rmmod", "pin", True) == 0
    assert k.taint_string() == "RE"  # E: the module is unsigned
    assert "pin: forced unload, refcount 1" in lab.dmesg()
    assert file.pinned.refcnt == 1  # the open file still holds its reference


# -- depmod and modprobe ----------------------------------------------------------------

def test_depmod_reads_module_files_without_running_them(lab, tmp_path):
    marker = tmp_path / "ran"
    lab.module("a", EXPORTER)
    path = lab.module("b", f"""
        open({str(marker)!r}, "w").close()
        MODULE_SOFTDEP = "pre: s1 post: s2"
        MODULE_DEVICE_TABLE = [pci_device_id(0x8086, 0x1234), usb_device_id(0x46d, 0xc52b)]
        size = module_param("size", int, 64, desc="bytes")
        a_get = import_symbol("a_get")


        @module_init
        def b_init():
            return 0
    """)
    index = ModuleIndex.scan([tmp_path])
    assert not marker.exists()
    image = index.get("b")
    assert image.path == path
    assert index.hard_deps("b") == ["a"]
    assert (image.softdep_pre, image.softdep_post) == (["s1"], ["s2"])
    assert [e.format() for e in image.device_table] == ["8086:1234", "046d:c52b"]
    assert (image.params["size"].type, image.params["size"].default) == ("int", 64)
    assert image.exports == {} and index.get("a").exports == {"a_get": False}
    assert index.names() == ["a", "b"]


def test_modprobe_loads_the_exporter_first_and_passes_params_to_its_target(lab):
    param = '\n    n = module_param("n", int, 1)\n'
    lab.module("a", EXPORTER + param)
    lab.module("b", IMPORTER + param)
    k = lab.boot()
    assert k.do("modprobe", "b", {"n": "5"}) == 0
    assert order(lab, " up") == ["a: a up", "b: b up"]
    assert (lab.ns("a")["n"], lab.ns("b")["n"]) == (1, 5)
    assert lab.ns("b")["got"] == 42
    assert k.do("modprobe", "b", {}) == 0  # already loaded: nothing to do
    assert k.do("modprobe_remove", "b") == 0
    assert lab.lsmod() == []
    assert order(lab, " down") == ["b: b down", "a: a down"]


def test_modprobe_remove_keeps_a_dependency_that_another_module_uses(lab):
    lab.module("a", EXPORTER)
    lab.module("b", IMPORTER)
    lab.module("c", IMPORTER.replace("b_", "c_"))
    k = lab.boot()
    assert k.do("modprobe", "b", {}) == 0
    assert k.do("modprobe", "c", {}) == 0
    assert k.do("modprobe_remove", "b") == 0
    assert sorted(k.loader.modules) == ["a", "c"]


def test_softdeps_pre_load_before_and_post_after(lab):
    lab.module("pre1", plain("pre1"))
    lab.module("post1", plain("post1"))
    lab.module("main", 'MODULE_SOFTDEP = "pre: pre1 post: post1"\n' + plain("main"))
    k = lab.boot()
    assert k.do("modprobe", "main", {}) == 0
    assert order(lab, " up") == ["pre1: pre1 up", "main: main up", "post1: post1 up"]
    assert k.do("modprobe_remove", "main") == 0
    assert lab.lsmod() == [], "modprobe -r removes softdeps too, as kmod does"
    assert order(lab, " down") == ["post1: post1 down", "main: main down", "pre1: pre1 down"]


def test_insmod_does_not_load_softdeps(lab):
    lab.module("pre1", plain("pre1"))
    lab.module("main", 'MODULE_SOFTDEP = "pre: pre1"\n' + plain("main"))
    k = lab.boot()
    assert lab.insmod("main") == 0
    assert list(k.loader.modules) == ["main"]


# -- symbols ------------------------------------------------------------------------------

def test_imported_symbol_pins_its_exporter(lab):
    lab.module("a", EXPORTER)
    lab.module("b", IMPORTER)
    k = lab.boot()
    assert lab.insmod("a") == 0 and lab.insmod("b") == 0
    assert lab.ns("b")["got"] == 42
    a_line = next(line for line in lab.lsmod() if line.startswith("a "))
    assert a_line.split()[-1] == "b", lab.lsmod()
    assert k.do("rmmod", "a") == -errno.EBUSY
    assert "rmmod: ERROR: Module a is in use by: b" in lab.dmesg()
    assert k.do("rmmod", "a", True) == -errno.EBUSY  # not even forced
    assert k.do("rmmod", "b") == 0
    assert k.do("rmmod", "a") == 0
    assert k.findings == []


def test_import_of_a_symbol_nobody_exports_is_unknown_symbol(lab):
    lab.module("a", EXPORTER)
    lab.module("b", IMPORTER)
    k = lab.boot()
    assert lab.insmod("b") == -errno.ENOENT
    assert "b: Unknown symbol a_get (err -2)" in lab.dmesg()
    assert k.loader.modules == {}
    assert lab.insmod("a") == 0
    assert lab.lsmod()[0].split()[-1] == "0", "the failed load left no user behind"


def test_export_symbol_works_as_a_decorator_and_as_a_call(lab):
    lab.module("a", """
        @EXPORT_SYMBOL
        def a_one():
            return 1


        def a_two():
            return 2


        EXPORT_SYMBOL_GPL(a_two)


        @module_init
        def a_init():
            return 0


        @module_exit
        def a_exit():
            pass
    """)
    lab.module("b", """
        total = import_symbol("a_one")() + import_symbol("a_two")()


        @module_init
        def b_init():
            return 0
    """)
    lab.boot()
    assert lab.insmod("a") == 0 and lab.insmod("b") == 0
    assert lab.ns("b")["total"] == 3


@pytest.mark.parametrize("export, loads", [("EXPORT_SYMBOL", True), ("EXPORT_SYMBOL_GPL", False)])
def test_non_gpl_module_cannot_use_gpl_only_symbols(lab, export, loads):
    lab.module("a", EXPORTER.replace("EXPORT_SYMBOL", export))
    lab.module("b", IMPORTER, license="Proprietary")
    k = lab.boot()
    assert lab.insmod("a") == 0
    ret = lab.insmod("b")
    assert (ret == 0) is loads, (ret, lab.dmesg())
    if not loads:
        assert ret == -errno.ENOENT
        assert "b: Unknown symbol a_get (err -2)" in lab.dmesg()
    assert "P" in k.taint_string()


def test_exporting_a_symbol_another_module_exports_fails_the_load(lab):
    shared = """
        def shared_fn():
            return 0


        EXPORT_SYMBOL(shared_fn)


        @module_init
        def {0}_init():
            return 0


        @module_exit
        def {0}_exit():
            pass
    """
    lab.module("one", shared.format("one"))
    lab.module("two", shared.format("two"))
    k = lab.boot()
    assert lab.insmod("one") == 0
    ret = lab.insmod("two")
    assert ret < 0, ret
    assert "two: exports duplicate symbol shared_fn (owned by one)" in lab.dmesg()
    assert list(k.loader.modules) == ["one"]
    assert k.do("rmmod", "one") == 0
    assert lab.insmod("two") == 0


# -- parameters ---------------------------------------------------------------------------

PARAMS = """
    n = module_param("n", int, 7, desc="a number")
    flag = module_param("flag", bool, False)
    label = module_param("label", str, "none")


    @module_init
    def p_init():
        return 0


    @module_exit
    def p_exit():
        pass
"""


def test_module_params_default_and_given(lab):
    lab.module("p", PARAMS)
    k = lab.boot()
    assert lab.insmod("p") == 0
    assert {x: lab.ns("p")[x] for x in ("n", "flag", "label")} == {"n": 7, "flag": False, "label": "none"}
    assert k.do("rmmod", "p") == 0
    assert lab.insmod("p", n="0x10", flag="y", label="hi") == 0
    assert {x: lab.ns("p")[x] for x in ("n", "flag", "label")} == {"n": 16, "flag": True, "label": "hi"}


@pytest.mark.parametrize("param", [{"n": "ten"}, {"flag": "maybe"}, {"n": ""}])
def test_module_param_value_that_does_not_convert_is_einval(lab, param):
    lab.module("p", PARAMS)
    k = lab.boot()
    assert k.do("insmod", "p", param) == -errno.EINVAL
    (key, value), = param.items()
    assert f"p: `{value}' invalid for parameter `{key}'" in lab.dmesg()
    assert k.loader.modules == {}


def test_unknown_module_param_is_logged_and_ignored(lab):
    lab.module("p", PARAMS)
    lab.boot()
    assert lab.insmod("p", bogus="1", n="3") == 0
    assert "p: unknown parameter 'bogus' ignored" in lab.dmesg()
    assert lab.ns("p")["n"] == 3


# -- licences -------------------------------------------------------------------------------

@pytest.mark.parametrize("licence", ["GPL", "GPL v2", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"])
def test_gpl_compatible_licences_do_not_taint(lab, licence):
    lab.module("a", EXPORTER.replace("EXPORT_SYMBOL", "EXPORT_SYMBOL_GPL"))
    lab.module("b", IMPORTER, license=licence)
    k = lab.boot()
    assert lab.insmod("a") == 0 and lab.insmod("b") == 0
    assert k.taint_string() == "E"  # unsigned, nothing else


@pytest.mark.parametrize("licence", ["Proprietary", "MIT", "BSD"])
def test_other_licences_taint_P(lab, licence):
    lab.module("m", plain("m"), license=licence)
    k = lab.boot()
    assert lab.insmod("m") == 0
    assert k.taint_string() == "PE"
    assert f"m: module license '{licence}' taints kernel." in lab.dmesg()


# -- who may load ---------------------------------------------------------------------------

def test_loading_and_unloading_need_cap_sys_module(lab):
    lab.module("m", plain("m"))
    k = lab.boot()
    assert k.do("insmod", "m", {}, nobody=True) == -errno.EPERM
    assert k.do("modprobe", "m", {}, nobody=True) == -errno.EPERM
    assert k.loader.modules == {}
    assert lab.insmod("m") == 0
    assert k.do("rmmod", "m", nobody=True) == -errno.EPERM
    assert k.do("modprobe_remove", "m", nobody=True) == -errno.EPERM
    assert k.do("rmmod", "m") == 0, "the uid is per operation"


def test_modules_disabled_sysctl_stops_loading_and_unloading_for_good(lab):
    lab.module("m", plain("m"))
    lab.module("n", plain("n"))
    k = lab.boot()
    assert lab.insmod("m") == 0
    assert k.do("sysctl", "kernel.modules_disabled", "1", nobody=True) == -errno.EPERM
    assert k.do("sysctl", "kernel.modules_disabled", "1") == 0
    assert lab.insmod("n") == -errno.EPERM
    assert k.do("modprobe", "n", {}) == -errno.EPERM
    assert k.do("rmmod", "m") == -errno.EPERM
    # proc_dointvec_minmax with extra1 = extra2 = SYSCTL_ONE: 0 is out of range
    assert k.do("sysctl", "kernel.modules_disabled", "0") == -errno.EINVAL
    assert k.do("sysctl", "kernel.modules_disabled", "1") == 0, "1 again is in range"
    assert k.config.modules_disabled
    assert lab.insmod("n") == -errno.EPERM


def test_modules_disabled_takes_only_1_even_before_it_is_set(lab):
    lab.module("m", plain("m"))
    k = lab.boot()
    assert k.do("sysctl", "kernel.modules_disabled", "0") == -errno.EINVAL
    assert not k.config.modules_disabled
    assert lab.insmod("m") == 0


def test_modules_disabled_from_the_kernel_config(lab):
    lab.module("m", plain("m"))
    lab.boot(modules_disabled=True)
    assert lab.insmod("m") == -errno.EPERM


@pytest.mark.parametrize("name, value", [("kernel.nosuch", "1"), ("kernel.panic_on_warn", "2")])
def test_bad_sysctl_is_einval(lab, name, value):
    k = lab.boot()
    assert k.do("sysctl", name, value) == -errno.EINVAL


# -- lock classes across loads --------------------------------------------------------------

NESTED = """
    a = mutex_init()
    b = mutex_init()


    def nest_ioctl(file, cmd, arg):
        mutex_lock(a)
        mutex_lock(b)
        mutex_unlock(b)
        mutex_unlock(a)
        return 0
"""


def test_the_same_lock_order_over_two_loads_is_clean(lab):
    """The module's lock classes die with it (lockdep_free_key_range in
    kernel/module/main.c's free_module): a second load that takes its locks in the
    same order as the first meets no class, order or chain of the first.
    tests/test_kernel_lockdep_classes.py has the opposite orders over two loads."""
    lab.device("nest", NESTED)
    k = lab.boot()
    for _ in range(2):
        assert lab.insmod("nest") == 0
        assert lab.ioctl("nest") == 0
        k.do("close", lab.files.pop("nest"))
        assert k.do("rmmod", "nest") == 0
    assert k.findings == [], lab.dmesg()
    assert not [key for key in k.locking.keys.values() if key.module == "nest"]
