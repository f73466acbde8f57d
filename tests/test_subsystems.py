"""Subsystems in one list: what a module leaves behind is found by walking
`kernel.subsystems`, the same way at rmmod, at a failed init and at the end of a program."""

import textwrap

import pytest
from test_kernel_dangling import LEFT  # WHAT NAME of the title -> the call that leaves it behind

from kfuzz.kernel.subsystem import Subsystem
from kfuzz.prog import parse_program, run_program

LEAVER = """
    def dg_irq(irq, dev_id):
        return IRQ_HANDLED


    def dg_timer(t):
        pass


    def dg_work(w):
        pass


    def dg_pm(event):
        return 0


{body}
    n = module_param("n", int, 0)


    @module_init
    def dg_init():
        ret = {init}
        return ret if isinstance(ret, int) and ret < 0 else 0


    @module_exit
    def dg_exit():
        pass
"""

def leaver(lab, init="0", body=""):
    """Module dg: `body` at its top level (before its parameter), `init` in its init."""
    body = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    lab.module("dg", LEAVER.format(init=init, body=body))


def run(lab, tmp_path, body):
    return run_program(parse_program(f"# modules: dg.py\n{body}", base_dir=tmp_path))


def found(outcome):
    f = outcome.finding
    return (f.kind, f.title) if f else None


def test_every_subsystem_is_in_the_list_memory_last(lab):
    k = lab.boot()
    subsystems = {name for name, v in vars(k).items() if isinstance(v, Subsystem)}
    assert subsystems == {"fs", "bus", "irqs", "timers", "workqueues", "pm", "mm"}
    assert k.subsystems == [k.fs, k.bus, k.irqs, k.timers, k.workqueues, k.pm, k.mm]


def test_leftovers_walk_the_list_in_order(lab):
    calls = "".join(f"    {call}\n" for call in LEFT.values())
    leaver(lab, init="dg_setup()",
           body=f"def dg_setup():\n    global buf\n    buf = kmalloc(8)\n{calls}")
    k = lab.boot()
    assert lab.insmod("dg") == 0, lab.dmesg()
    left = k.leftovers(k.loader.modules["dg"])
    assert [f"{x.what} {x.name}" for x in left] == [
        "chrdev registration dg", "misc device dg0", "proc entry dg", "driver dgdrv",
        "irq handler dg_irq", "timer dg_timer", "delayed work dg_work", "work dg_work",
        "workqueue dg_wq", "pm notifier dg_pm"], "a buffer is a leak by reference (kmemleak.py)"
    assert all(x.report is None for x in left)
    assert {x.site.function for x in left} == {"dg_setup"}


@pytest.mark.parametrize("what", LEFT)
def test_exit_that_forgets_is_flagged_at_rmmod(lab, tmp_path, what):
    leaver(lab, init=LEFT[what])
    out = run(lab, tmp_path, "insmod dg\nrmmod dg\n")
    assert found(out) == ("dangling-registration", f"WARNING: dangling {what} after unload")
    assert [r.op for r in out.results] == ["insmod dg", "rmmod dg"], "found on the rmmod line"


@pytest.mark.parametrize("what", LEFT)
def test_program_ending_with_the_module_loaded_flags_it_at_the_clean_up(lab, tmp_path, what):
    leaver(lab, init=LEFT[what])
    out = run(lab, tmp_path, "insmod dg\n")
    assert found(out) == ("dangling-registration", f"WARNING: dangling {what} after unload")
    assert (out.finding.module, out.finding.function) == ("dg", "dg_init")


@pytest.mark.parametrize("what", LEFT)
def test_module_gone_without_a_check_is_flagged_at_the_end(lab, tmp_path, what):
    """A module body that registers and then fails to load (a bad parameter) is gone
    unchecked: the end of the program finds what it left, in every subsystem. (Before
    the subsystems were one list, it missed IRQs, work, workqueues and PM notifiers.)"""
    leaver(lab, body=f"left = {LEFT[what]}")
    out = run(lab, tmp_path, "insmod dg n=x\n")
    assert out.results[0].result == "-EINVAL"
    assert found(out) == ("dangling-registration", f"WARNING: dangling {what} after unload")
    assert out.finding.module == "dg"


def test_buffer_of_a_module_gone_unchecked_is_a_leak_when_its_globals_go(lab, tmp_path):
    leaver(lab, body="buf = kmalloc(8)")
    assert found(run(lab, tmp_path, "insmod dg n=x\n")) == ("memory-leak", "memory leak in dg_module_body")
    leaver(lab, body=f"buf = kmalloc(8)\nleft = {LEFT['irq handler dg_irq']}")
    k = lab.boot()
    assert k.do("insmod", "dg", {"n": "x"}) < 0
    k.do("cleanup")
    assert lab.findings() == [  # the buffer at the failed load, the registration at the end
        ("memory-leak", "memory leak in dg_module_body"),
        ("dangling-registration", "WARNING: dangling irq handler dg_irq after unload")]


@pytest.mark.parametrize("what", LEFT)
def test_failed_init_is_checked_through_the_list(lab, tmp_path, what):
    leaver(lab, init=f"({LEFT[what]}) and -EIO or -EIO")
    out = run(lab, tmp_path, "insmod dg\n")
    assert "dg: init failed with error -EIO" in "\n".join(out.dmesg)
    assert found(out) == ("dangling-registration", f"WARNING: dangling {what} after unload")


def test_clean_programs_leave_every_subsystem_empty(lab, tmp_path):
    leaver(lab)
    out = run(lab, tmp_path, "insmod dg\nrmmod dg\ninsmod dg n=x\ninsmod dg\n")
    assert out.finding is None, out.dmesg
