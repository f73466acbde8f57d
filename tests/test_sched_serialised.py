"""What Linux serialises, kfuzz serialises too: each race these locks and references
forbid is tried under the schedule that would show it, and does not happen.

The module `ser` sleeps (msleep) inside each callback, where a schedule preempts it,
and frees in its teardown what its callbacks use, so any overlap Linux forbids
would be a use-after-free or a call into a module that is gone.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from kfuzz.prog import Outcome, parse_program, run_program

SER = '''
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DEVICE_TABLE = [pci_device_id(0x8086, 0x1234)]
INIT_SLEEP = module_param("init_sleep", int, 0)
EXIT_SLEEP = module_param("exit_sleep", int, 0)


def ser_open(inode, file):
    st = kzalloc(16)
    if st is None:
        return -ENOMEM
    msleep(10)          # an open in progress: misc_mtx is held across it
    st.reads = 0
    file.private_data = st
    return 0


def ser_read(file, count):
    st = file.private_data
    msleep(10)          # a read in progress: the file stays referenced
    st.reads += 1
    return b"x"


def ser_release(inode, file):
    kfree(file.private_data)
    return 0


fops = FileOperations(owner=THIS_MODULE, open=ser_open, read=ser_read, release=ser_release)


def ser_probe(dev, id):
    misc = MiscDevice(name="ser", fops=fops)
    st = kzalloc(16)
    if st is None:
        return -ENOMEM
    st.misc = misc
    dev_set_drvdata(dev, st)
    msleep(10)          # a probe in progress: device_lock is held across it
    st.ready = 1
    return misc_register(misc)


def ser_remove(dev):
    st = dev_get_drvdata(dev)
    if st.ready:
        misc_deregister(st.misc)
    kfree(st)


drv = Driver(name="ser", bus="pci", id_table=MODULE_DEVICE_TABLE, probe=ser_probe, remove=ser_remove)


@module_init
def ser_init():
    if INIT_SLEEP:
        msleep(INIT_SLEEP)
    return driver_register(drv)


@module_exit
def ser_exit():
    if EXIT_SLEEP:
        msleep(EXIT_SLEEP)
    driver_unregister(drv)
'''


def run(tmp_path: Path, body: str) -> Outcome:
    (tmp_path / "ser.py").write_text(SER)
    prog = parse_program("# modules: ser.py\n" + textwrap.dedent(body), base_dir=tmp_path)
    return run_program(prog)


def clean(outcome: Outcome) -> list[object]:
    """Each line's result; the group's preemption fired (the race was tried)."""
    assert outcome.finding is None, (outcome.finding.title, outcome.dmesg)
    group = next(r for r in outcome.results if r.op.startswith("together"))
    assert group.schedule == ("t1 at msleep -> t2",), group
    return [r.result for r in outcome.results]


def test_close_during_a_read_releases_when_the_read_returns(tmp_path: Path) -> None:
    # fdget/fput (fs/file.c, fs/file_table.c): release runs after the last call on the file
    results = clean(run(tmp_path, """
        insmod ser
        plug pci 8086:1234 -> dev0
        open /dev/ser -> fd0
        together
          t1: read fd0 1
          t2: close fd0
        schedule: t1 at msleep -> t2
    """))
    assert results[-1] == ['"x"', 0]


def test_unbind_during_probe_waits_for_the_probe(tmp_path: Path) -> None:
    # device_lock (drivers/base/dd.c) is held around probe and remove
    results = clean(run(tmp_path, """
        insmod ser
        plug pci 8086:1234 -> dev0
        unbind dev0
        together
          t1: bind dev0
          t2: unbind dev0
        schedule: t1 at msleep -> t2
    """))
    assert results[-1] == [0, 0]


def test_unplug_during_an_open_waits_for_the_open(tmp_path: Path) -> None:
    # misc_mtx (drivers/char/misc.c) is held across misc_open and by misc_deregister
    results = clean(run(tmp_path, """
        insmod ser
        plug pci 8086:1234 -> dev0
        together
          t1: open /dev/ser -> fd0
          t2: unplug dev0
        schedule: t1 at msleep -> t2
        read fd0 1
    """))
    assert results[-2] == ["fd0", 0]


def test_rmmod_of_a_module_still_loading_is_ebusy(tmp_path: Path) -> None:
    # kernel/module/main.c: delete_module of a module not LIVE is -EBUSY; init runs without module_mutex
    results = clean(run(tmp_path, """
        together
          t1: insmod ser init_sleep=10
          t2: rmmod ser
        schedule: t1 at msleep -> t2
    """))
    assert results[-1] == [0, "-EBUSY"]


def test_open_of_a_module_going_fails_without_calling_it(tmp_path: Path) -> None:
    # try_module_get fails once the module is going: no call into its open
    results = clean(run(tmp_path, """
        insmod ser exit_sleep=10
        plug pci 8086:1234 -> dev0
        together
          t1: rmmod ser
          t2: open /dev/ser -> fd0
        schedule: t1 at msleep -> t2
    """))
    assert results[-1] == [0, "-ENODEV"]
