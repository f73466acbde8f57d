"""The fuzzer finds every planted bug, flags no correct module, and survives bad modules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from planted import ALSO_TITLED, PLANTED
from rich.console import Console
from test_unattended import interruptible

from kfuzz.fuzz import Events, FuzzOptions, fuzz, resolve_targets
from kfuzz.fuzz.events import BugFound, Event, ReportWritten
from kfuzz.fuzz.progress import Progress
from kfuzz.replay import replay_path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "target_modules"
REPORT_FILES = {"report.json", "report.md", "repro.kfz", "test_repro.py"}

# Test cases to spend on a module. usbuaf needs five operations in order
# (load, plug, open, unplug or unbind, read): over 28 seeds the first find
# came after a median of about 90 cases and at most 633. rebinduaf and
# rebindleak need four (plug, unbind, bind of the same device, and a load
# or the clean-up): over 20 seeds, median 65 and at most 305 cases for
# rebinduaf, median 75 and at most 340 for rebindleak.
# irqunsafe needs its card plugged, an interrupt on it, its node opened and read
# (the read and the interrupt in either order): over 20 seeds, median 92 and at
# most 878 cases. bhunsafe (a write and a tick, either order): over 10 seeds,
# median 7 and at most 43.
# The races (a `together` group with the right operations, on the same device or
# file, in an order or under a preemption that shows the bug): the test cases to the
# first find over seeds 0..4, measured in a script with fork isolation (the search of
# one seed still moves a little with what the process imported first, so each budget
# is well above the find), with the generator of fuzz/machine.py and choices.py:
# discrel 234, 1249, 480, 172, 218; discwrite 62, 67, 73, 45, 116; discread 65, 120,
# 16, 163, 269; bufresize 78, 1117, 56, 723, 348; selfpin 17, 13, 59, 17, 25;
# deltimer 58, 51, 1089, 19, 262; waitlock 568, 296, 82, 752, 366; usbuaf 55, 3, 11,
# 29, 37. The twins of ported drivers: yurexdisc more than 3000, 1328, 1882, 746,
# 717; iowardisc 154, more than 3000, 1807, 340, 989 (seed 3 here, as before). Which
# seed finds early moves with the process (yurexdisc's seed 4, 717 cases in the script,
# missed 2500 in CI's full run): yurexdisc gets 8000 cases, which a find rate of about
# one in 1,100 cases misses once in a few hundred runs.
BUDGET = {"usbuaf": 800, "rebinduaf": 500, "rebindleak": 500, "irqunsafe": 1000,
          "discrel": 2000, "discwrite": 1000, "discread": 1500, "bufresize": 2000, "selfpin": 1000,
          "deltimer": 1500, "waitlock": 3000, "yurexdisc": 8000, "iowardisc": 2000}
SEED = {"iowardisc": 3, "yurexdisc": 4}

CORRECT = ["edu_pci", "iowarrior", "pmwatch", "procstats", "ringbuf", "ringdev", "usbled", "yurex",
           # the twins of the race modules (tests/test_races.py)
           "msgq", "pollcard", "scratchpad", "ticketpr", "usbmeter", "usbskel", "usbtherm",
           # Linux's usb-skeleton.c, its own data races marked (tests/test_usb_skeleton.py)
           "usb_skeleton"]


class Quiet(Progress):
    """Records what the display would show; shows nothing."""

    def __init__(self) -> None:
        super().__init__(Console(quiet=True))


def run_fuzz(paths: list[Path], tmp_path: Path, max_examples: int, seed: int = 0,
             module_path: Path = TARGETS, **kw):
    targets, index = resolve_targets(paths, module_path)
    opts = FuzzOptions(seed=seed, max_examples=max_examples, db_dir=None,
                       reports=tmp_path / "reports", **kw)
    return fuzz(targets, index, opts, Events(Quiet()))


@pytest.mark.parametrize("module", sorted(PLANTED))
def test_fuzz_finds_planted_bug_and_its_repro_replays(module: str, tmp_path: Path) -> None:
    kind, title = PLANTED[module]
    # a hang costs the whole operation timeout each time Hypothesis or the
    # minimizer replays it: a shorter one keeps this test quick
    timeout = {"op_timeout": 0.2} if kind == "hang" else {}
    result = run_fuzz([TARGETS / "buggy" / f"{module}.py"], tmp_path,
                      max_examples=BUDGET.get(module, 300), seed=SEED.get(module, 0), **timeout)
    found = {rec.finding.title: rec for _, rec in result.records}
    if title not in found and ALSO_TITLED.get(module) in found:
        title = ALSO_TITLED[module]
    assert title in found, f"{module}: found {sorted(found)}"
    rec = found[title]
    assert rec.finding.kind == kind
    assert rec.replays >= 3 and rec.reproduced == rec.replays
    assert {p.name for p in rec.reported.iterdir()} == REPORT_FILES
    data = json.loads((rec.reported / "report.json").read_text())
    assert (data["title"], data["kind"], data["module"]) == (title, kind, module)
    assert data["steps"] == len(rec.ops) <= 6, data["repro"]
    assert ("# check: python-leak" in data["repro"]) == (kind == "python-leak"), data["repro"]
    outcome = replay_path(rec.reported)
    assert outcome.finding is not None and outcome.finding.title == title


@pytest.mark.parametrize("module", CORRECT)
def test_fuzz_flags_no_correct_module(module: str, tmp_path: Path) -> None:
    result = run_fuzz([TARGETS / f"{module}.py"], tmp_path, max_examples=150)
    assert result.records == [], [rec.finding.title for _, rec in result.records]
    assert result.cases >= 150 and result.ops > result.cases


def test_same_seed_same_run(tmp_path: Path) -> None:
    runs = [run_fuzz([TARGETS / "buggy" / "usbuaf.py"], tmp_path / str(i), max_examples=150, seed=3)
            for i in range(2)]
    a, b = ([(rec.finding.title, [op.format() for op in rec.ops]) for _, rec in r.records] for r in runs)
    assert a == b and a
    assert runs[0].ops == runs[1].ops


def test_example_database_tries_a_found_bug_first(tmp_path: Path) -> None:
    targets, index = resolve_targets([TARGETS / "buggy" / "lockorder.py"], TARGETS)

    class FirstBugAt:
        at: int | None = None

        def __call__(self, event: Event) -> None:
            if isinstance(event, BugFound) and self.at is None:
                self.at = event.counts.cases

    def first_bug(seed: int, db: Path) -> int | None:
        first = FirstBugAt()
        opts = FuzzOptions(seed=seed, max_examples=400, db_dir=db, reports=tmp_path / "reports")
        fuzz(targets, index, opts, Events(first))
        return first.at

    # a search that needs a while without the database (seeds 0 and 1 meet it at once)
    for seed in (2, 3, 4):
        db = tmp_path / f".kfuzz{seed}"
        cases = first_bug(seed, db)
        assert cases is not None, f"seed {seed}: lockorder's bug not found in 400 cases"
        if cases > 5:
            break
    assert cases > 5, "no seed searched long enough to show the database's effect"
    again = first_bug(1, db)
    assert again is not None and again <= 2, (cases, again)


BAD_MODULES = {
    "spinner": ("hang", """
        def spinner_ioctl(file, cmd, arg):
            while True:
                pass
        """),
    "chatty": ("hang", """
        def chatty_ioctl(file, cmd, arg):
            while True:
                print("chatty: still here")
        """),
    "quitter": ("oops", """
        def quitter_ioctl(file, cmd, arg):
            raise SystemExit(1)
        """),
    "breaker": ("oops", """
        def breaker_ioctl(file, cmd, arg):
            raise KeyboardInterrupt
        """),
    "killer": ("crash", """
        import os, signal

        def killer_ioctl(file, cmd, arg):
            print("killer: going down")
            os.kill(os.getpid(), signal.SIGSEGV)
        """),
    "wanderer": ("escape", """
        import os

        def wanderer_ioctl(file, cmd, arg):
            os.chdir("/")
        """),
}


@pytest.mark.parametrize("name", sorted(BAD_MODULES))
def test_fuzzer_survives_modules_that_misbehave(name: str, tmp_path: Path) -> None:
    kind, body = BAD_MODULES[name]
    mods = tmp_path / "mods"
    mods.mkdir()
    tail = f"""
        fops = FileOperations(owner=THIS_MODULE, unlocked_ioctl={name}_ioctl)
        misc = MiscDevice(name="{name}", fops=fops)

        @module_init
        def {name}_init():
            return misc_register(misc)

        @module_exit
        def {name}_exit():
            misc_deregister(misc)
        """
    source = ('from kfuzz.kapi import *\nMODULE_LICENSE = "GPL"\n'
              + textwrap.dedent(body) + textwrap.dedent(tail))
    (mods / f"{name}.py").write_text(source)
    result = run_fuzz([mods / f"{name}.py"], tmp_path, max_examples=40, module_path=mods,
                      op_timeout=0.3)
    kinds = {rec.finding.kind for _, rec in result.records}
    assert kind in kinds, [rec.finding.title for _, rec in result.records]
    assert result.cases >= 10  # it went on fuzzing after the bug
    assert all(rec.reported is not None for _, rec in result.records)
    if kind == "crash":  # its report keeps the dying kernel's log, as pstore does
        rec = next(rec for _, rec in result.records if rec.finding.kind == "crash")
        data = json.loads((rec.reported / "report.json").read_text())
        assert "during 'ioctl fd" in data["message"], data["message"]
        assert any("killer: going down" in line for line in data["dmesg"]), data["dmesg"]
        assert "killer: going down" in (rec.reported / "report.md").read_text()


def test_a_run_tells_its_listeners_what_happened(tmp_path: Path) -> None:
    seen: list[Event] = []
    targets, index = resolve_targets([TARGETS / "buggy" / "oobwrite.py"], TARGETS)
    opts = FuzzOptions(seed=0, max_examples=60, db_dir=None, reports=tmp_path / "reports")
    result = fuzz(targets, index, opts, Events(seen.append))
    names = [type(e).__name__ for e in seen]
    assert names[0] == "CampaignStarted" and names[-2:] == ["CampaignFinished", "RunFinished"]
    assert "CaseDone" in names and names.index("BugFound") < names.index("ReportWritten")
    written = [e for e in seen if isinstance(e, ReportWritten)]
    assert {e.title for e in written} == {rec.finding.title for _, rec in result.records}
    for title in {e.title for e in written}:  # written as found at once, then minimized
        states = [(e.minimized, e.replays) for e in written if e.title == title]
        assert states[0] == (False, 0) and states[-1][0] and states[-1][1] >= 3, states
    assert all(e.folder.is_dir() for e in written)
    assert seen[-1].counts.cases == result.cases  # type: ignore[union-attr]


def test_sigint_leaves_every_report_complete(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfuzz.cli", "fuzz", str(TARGETS / "buggy" / "usbuaf.py"),
         "--time-budget", "120", "--seed", "1", "--no-db", "--reports", str(reports)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env,
        preexec_fn=interruptible)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "found " in line:
            break
    else:
        pytest.fail("the fuzzer ended without a finding:\n" + "".join(lines))
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(lines) + out
    folders = [p for p in reports.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert folders and not [p for p in reports.iterdir() if p.name.startswith(".") and p.name != ".lock"]
    for folder in folders:
        assert {p.name for p in folder.iterdir()} == REPORT_FILES
        data = json.loads((folder / "report.json").read_text())
        assert data["replays"] >= 3 and data["repro"].strip()


def test_ci_environment_still_explores_and_keeps_the_database(tmp_path: Path) -> None:
    env = dict(os.environ, CI="true")
    proc = subprocess.run(
        [sys.executable, "-m", "kfuzz.cli", "fuzz", str(TARGETS / "buggy" / "oobwrite.py"),
         "--module-path", str(TARGETS), "--max-examples", "150", "--seed", "5",
         "--reports", str(tmp_path / "reports")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "slab-out-of-bounds in oobwrite_write" in proc.stdout
    assert any((tmp_path / ".kfuzz" / "examples").rglob("*")), "no example database written"
    assert not (tmp_path / ".hypothesis").exists()  # Hypothesis's own files stay in .kfuzz/ too
