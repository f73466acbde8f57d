"""modprobe as kmod does it (libkmod-module.c kmod_module_probe_insert_module,
tools/modprobe.c): softdeps that fail, modules already loaded, softdep cycles, aliases."""

import errno
from pathlib import Path

from test_kernel_loader import order, plain

from kfuzz.kernel import ModuleIndex
from kfuzz.kernel.image import ModuleImage
from kfuzz.prog import parse_program, run_program

FAILS = plain("broken", init_body="return -ENODEV")


def test_a_softdep_that_fails_is_ignored(lab):
    lab.module("broken", FAILS)
    lab.module("missing_post", 'MODULE_SOFTDEP = "post: broken"\n' + plain("missing_post"))
    lab.module("main", 'MODULE_SOFTDEP = "pre: broken nosuchmodule"\n' + plain("main"))
    k = lab.boot()
    assert k.do("modprobe", "main", {}) == 0
    assert k.do("modprobe", "missing_post", {}) == 0
    assert sorted(k.loader.modules) == ["main", "missing_post"]
    assert "broken: init failed with error -ENODEV" in lab.dmesg()
    assert "modprobe: ERROR" not in lab.dmesg()


def test_a_hard_dependency_that_fails_fails_the_modprobe(lab):
    lab.module("a", plain("a", init_body="return -ENODEV", top='''
def a_get():
    return 42


EXPORT_SYMBOL(a_get)
'''))
    lab.module("b", plain("b", top='a_get = import_symbol("a_get")'))
    k = lab.boot()
    assert k.do("modprobe", "b", {}) == -errno.ENODEV
    assert "modprobe: ERROR: could not insert 'b': No such device" in lab.dmesg()
    assert k.loader.modules == {}


def test_modprobe_of_a_loaded_module_returns_0_at_once(lab):
    lab.module("pre1", plain("pre1"))
    lab.module("main", 'MODULE_SOFTDEP = "pre: pre1"\n' + plain("main"))
    k = lab.boot()
    assert lab.insmod("main") == 0
    assert k.do("modprobe", "main", {"bogus": "1"}) == 0
    assert list(k.loader.modules) == ["main"], "its softdeps are not looked at"
    assert "unknown parameter" not in lab.dmesg()
    # kmod reads the module's state before it asks the kernel for anything
    assert k.do("modprobe", "main", {}, nobody=True) == 0
    assert k.do("sysctl", "kernel.modules_disabled", "1") == 0
    assert k.do("modprobe", "main", {}) == 0
    assert k.do("modprobe", "pre1", {}) == -errno.EPERM


def test_a_softdep_cycle_loads_each_module_once_and_removes_them(lab):
    """kmod marks each module visited: modprobe a, where a wants b first and b wants a
    first, loads b (whose softdep a is already visited) and then a."""
    lab.module("a", 'MODULE_SOFTDEP = "pre: b post: a"\n' + plain("a"))
    lab.module("b", 'MODULE_SOFTDEP = "pre: a post: b a"\n' + plain("b"))
    k = lab.boot()
    assert k.index.probe_list("a") == [("b", False), ("a", True)]
    assert k.do("modprobe", "a", {}) == 0
    assert order(lab, " up") == ["b: b up", "a: a up"]
    assert k.do("modprobe_remove", "a") == 0
    assert k.loader.modules == {} and k.findings == []


def test_a_post_softdep_cycle_is_removed_without_end(lab):
    lab.module("a", 'MODULE_SOFTDEP = "post: b"\n' + plain("a"))
    lab.module("b", 'MODULE_SOFTDEP = "post: a"\n' + plain("b"))
    k = lab.boot()
    assert k.do("modprobe", "b", {}) == 0
    assert order(lab, " up") == ["b: b up", "a: a up"]
    assert k.do("modprobe_remove", "a") == 0
    assert k.loader.modules == {}
    assert order(lab, " down") == ["b: b down", "a: a down"]


def test_a_long_softdep_chain_needs_no_deep_recursion(tmp_path):
    """The probe list is built with a stack of its own: 5,000 modules in a ring of
    softdeps are no RecursionError."""
    code = compile("", "<empty>", "exec")
    n = 5000
    images = [ModuleImage(f"m{i}", Path(f"m{i}.py"), code, softdep_pre=[f"m{(i + 1) % n}"])
              for i in range(n)]
    plan = ModuleIndex(images).probe_list("m0")
    assert [name for name, _ in plan] == [f"m{i}" for i in reversed(range(n))]
    assert [name for name, required in plan if required] == ["m0"]


def test_hard_dependencies_come_with_their_softdeps_and_are_required(lab):
    lab.module("a", 'MODULE_SOFTDEP = "pre: s"\n' + plain("a", top='''
def a_get():
    return 42


EXPORT_SYMBOL(a_get)
'''))
    lab.module("s", plain("s"))
    lab.module("b", plain("b", top='a_get = import_symbol("a_get")'))
    k = lab.boot()
    assert k.index.probe_list("b") == [("s", False), ("a", True), ("b", True)]
    assert k.do("modprobe", "b", {}) == 0
    assert order(lab, " up") == ["s: s up", "a: a up", "b: b up"]


TABLE = 'MODULE_DEVICE_TABLE = [pci_device_id(0x8086, {0})]\n'


def test_an_alias_loads_every_module_that_matches_it(lab):
    lab.module("first", TABLE.format("0x1234") + plain("first"))
    lab.module("second", TABLE.format("PCI_ANY_ID") + plain("second"))
    lab.module("other", TABLE.format("0x9999") + plain("other"))
    k = lab.boot()
    assert k.do("modprobe", "pci:v00008086d00001234", {}) == 0
    assert sorted(k.loader.modules) == ["first", "second"]
    assert k.do("modprobe", "pci:v00001111d00002222", {}) == -errno.ENOENT
    assert "modprobe: FATAL: Module pci:v00001111d00002222 not found." in lab.dmesg()


def test_an_alias_returns_what_the_last_match_returned(lab):
    lab.module("good", TABLE.format("0x1234") + plain("good"))
    lab.module("zbad", TABLE.format("0x1234") + plain("zbad", init_body="return -EIO"))
    k = lab.boot()
    assert k.do("modprobe", "pci:v00008086d00001234", {}) == -errno.EIO
    assert list(k.loader.modules) == ["good"]


def test_a_program_may_modprobe_an_alias(lab):
    lab.module("first", TABLE.format("0x1234") + plain("first"))
    lab.module("second", TABLE.format("0x1234") + plain("second"))
    text = ("# modules: first.py second.py\nmodprobe pci:v00008086d00001234\n"
            "modprobe -r first\nmodprobe -r second\n")
    program = parse_program(text, base_dir=lab.root)
    assert program.format().splitlines()[-3] == "modprobe pci:v00008086d00001234"
    outcome = run_program(program)
    assert [r.result for r in outcome.results] == [0, 0, 0]
    assert outcome.finding is None
    assert "first: first up" in "\n".join(outcome.dmesg) and "second: second up" in "\n".join(outcome.dmesg)
