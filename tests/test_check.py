"""`kfuzz check`: a clean checklist on each correct module, a failing line naming the
planted bug on the buggy ones, exit codes, licence/signature lines, what was never
reached, and the fallible-call count each operation's outcome carries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kfuzz.check import CheckOptions, ModuleCheck, Verdict, check_module
from kfuzz.check.sites import declared_fops, fallible_sites
from kfuzz.cli import main
from kfuzz.fuzz import resolve_targets
from kfuzz.kernel.signing import keygen, sign_file
from kfuzz.prog import load_program, run_program
from tests.planted import PLANTED

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "target_modules"
BUGGY = MODULES / "buggy"
CORRECT = sorted(MODULES.glob("*.py"))

# a fuzz part this short keeps the suite quick; the checks before it are exhaustive
FEW = 20


def kfuzz(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "250"}, catch_exceptions=False)


def check(path: Path, reports: Path, examples: int = 0, **opts: object) -> ModuleCheck:
    targets, index = resolve_targets([path], MODULES)
    return check_module(targets[0], index, CheckOptions(reports=reports, fuzz_examples=examples, **opts))


def line(done: ModuleCheck, name: str):
    return next(r for r in done.results if r.name.startswith(name))


@pytest.mark.parametrize("path", CORRECT, ids=[p.stem for p in CORRECT])
def test_correct_module_gives_a_clean_checklist(path: Path, tmp_path: Path) -> None:
    done = check(path, tmp_path / "reports", FEW)
    assert not done.failed, [(r.name, r.detail) for r in done.results if r.failed]
    assert [r.verdict for r in done.results if r.verdict in (Verdict.FAIL, Verdict.WARN)] == []
    assert done.findings == []
    assert not any((tmp_path / "reports").glob("*-*"))  # no report folder


# a representative subset: each check that is not the fuzz part names a bug of its own;
# the fuzz part finds those only a search reaches (addtimer)
BUGS = {
    "pyleak": ("load and unload cycles", 0),
    "timerleak": ("load and unload cycles", 0),
    "leakinit": ("fault injection: init", 0),
    "regspin": ("fault injection: probe", 0),
    "dblfree": ("fault injection: read, write, ioctl, lseek, poll, fcntl, release", 0),
    "leakexit": ("fault injection: read, write, ioctl, lseek, poll, fcntl, release", 0),
    "rebinduaf": ("plug/unplug and bind/unbind cycles", 0),
    "rebindleak": ("plug/unplug and bind/unbind cycles", 0),
    "usbuaf": ("plug/unplug and bind/unbind cycles", 0),
    "irqsleep": ("plug/unplug and bind/unbind cycles", 0),
    "noowner": ("an open file pins the module", 0),
    "addtimer": ("fuzz", 200),
    # races that need an interleaving: the bounded-exhaustive schedules meet each
    "discrel": ("races of file operations", 0),
    "discwrite": ("races of file operations", 0),
    "discread": ("races of file operations", 0),
    "selfpin": ("races of file operations", 0),
}


@pytest.mark.parametrize("name", sorted(BUGS))
def test_buggy_module_fails_the_line_that_meets_its_bug(name: str, tmp_path: Path) -> None:
    which, examples = BUGS[name]
    kind, title = PLANTED[name]
    done = check(BUGGY / f"{name}.py", tmp_path, examples)
    failing = line(done, which)
    assert failing.verdict is Verdict.FAIL
    assert title in failing.detail
    found = next(f for f in failing.findings if f.title == title)
    assert found.kind == kind
    assert found.report is not None  # written as the fuzzer writes its reports
    record = json.loads((found.report / "report.json").read_text())
    assert record["title"] == title and record["replays"] >= 3 and record["reproduced"] >= 1
    replayed = run_program(load_program(found.report / "repro.kfz"))
    assert replayed.finding is not None and replayed.finding.title == title


def test_cli_checklist_and_exit_codes(tmp_path: Path) -> None:
    clean = kfuzz("check", MODULES / "ringdev.py", "--fuzz-examples", 5, "--reports", tmp_path)
    assert clean.exit_code == 0, clean.output
    for name in ("load and unload cycles", "fault injection: init", "an open file pins the module",
                 "races of file operations with unplug, unbind and rmmod", "licence", "signature", "taint",
                 "fuzz: 5 cases, seed 0", "never reached"):
        assert name in clean.output
    assert "ringdev: all checks pass" in clean.output
    buggy = kfuzz("check", BUGGY / "noowner.py", "--fuzz-examples", 0, "--reports", tmp_path)
    assert buggy.exit_code == 1
    assert "FAIL" in buggy.output and PLANTED["noowner"][1] in buggy.output
    assert (tmp_path / "unloaded-code-BUG-unable-to-handle-page-fault-in-noowner_read").is_dir()


def test_bad_input_is_exit_2(tmp_path: Path) -> None:
    missing = kfuzz("check", tmp_path / "none.py")
    assert missing.exit_code == 2 and "none.py: no such module file or folder" in missing.output
    broken = tmp_path / "broken.py"
    broken.write_text("from kfuzz.kapi import *\nMODULE_LICENSE = 'GPL'\ndef (:\n")
    bad = kfuzz("check", broken, "--reports", tmp_path / "r")
    assert bad.exit_code == 2 and "broken.py" in bad.output and "Traceback" not in bad.output
    key = tmp_path / "key.pub"
    key.write_text("not a key")
    wrong = kfuzz("check", MODULES / "ringbuf.py", "--keyring", key, "--reports", tmp_path / "r")
    assert wrong.exit_code == 2 and "--keyring" in wrong.output


def _copy(src: Path, dest: Path, licence: str | None = None) -> Path:
    text = src.read_text()
    if licence is not None:
        text = text.replace('MODULE_LICENSE = "GPL"', f'MODULE_LICENSE = "{licence}"')
    dest.write_text(text)
    return dest


def test_licence_signature_and_taint_lines(tmp_path: Path) -> None:
    mods = tmp_path / "mods"
    mods.mkdir()
    proprietary = _copy(MODULES / "ringbuf.py", mods / "ringbuf.py", "Proprietary")
    done = check(proprietary, tmp_path / "r")
    lic = line(done, "licence")
    assert lic.verdict is Verdict.WARN and "taints the kernel (P)" in lic.detail
    assert line(done, "taint").verdict is Verdict.WARN and "P" in line(done, "taint").detail
    assert line(done, "signature").verdict is Verdict.INFO and line(done, "signature").detail == "unsigned"
    assert not done.failed  # a warning, not a failure
    required = check(proprietary, tmp_path / "r", require_signature=True)
    assert line(required, "signature").verdict is Verdict.FAIL

    priv, pub = keygen(tmp_path / "keys")
    signed = _copy(MODULES / "ringbuf.py", mods / "ringbuf.py")
    sign_file(priv, signed)
    ok = kfuzz("check", signed, "--keyring", pub, "--require-signature", "--fuzz-examples", 0,
               "--reports", tmp_path / "r")
    assert ok.exit_code == 0, ok.output
    assert "verified with" in ok.output and "not tainted (G)" in ok.output
    _, other = keygen(tmp_path / "other")
    untrusted = kfuzz("check", signed, "--keyring", other, "--fuzz-examples", 0, "--reports", tmp_path / "r")
    assert untrusted.exit_code == 1 and "untrusted-key" in untrusted.output


def test_never_reached_names_call_sites_and_file_operations(tmp_path: Path) -> None:
    # ringbuf's allocations run only when another module calls it: no check of it fails them
    done = check(MODULES / "ringbuf.py", tmp_path)
    assert done.unreached.sites == ["kzalloc in ring_alloc (ringbuf.py:21)",
                                    "kmalloc in ring_alloc (ringbuf.py:24)"]
    # ringdev's own init, and ringbuf's allocations made during it, all failed in turn
    assert check(MODULES / "ringdev.py", tmp_path).unreached.sites == []
    source = ('seek_fops = FileOperations(owner=THIS_MODULE, read=seek_read, llseek=seek_llseek)\n'
              'def seek_init():\n    buf = kmalloc(8)\n    return misc_register(seek_misc)\n')
    assert [f.format() for f in declared_fops(source)] == ["seek_fops.read (seek_read)",
                                                          "seek_fops.llseek (seek_llseek)"]
    assert [(s.function, s.line, s.call) for s in fallible_sites("seek", source)] == [
        ("seek_init", 3, "kmalloc"), ("seek_init", 4, "misc_register")]


def test_same_module_same_verdict(tmp_path: Path) -> None:
    first = check(MODULES / "usbled.py", tmp_path, FEW)
    again = check(MODULES / "usbled.py", tmp_path, FEW)
    assert [(r.name, r.verdict, r.detail) for r in first.results] == \
           [(r.name, r.verdict, r.detail) for r in again.results]


def test_outcome_counts_fallible_calls_and_names_the_failed_one() -> None:
    out = run_program(load_program(MODULES / "examples" / "ringdev_faults.kfz"))
    assert [(r.faults, r.fault_site) for r in out.results[:4]] == [
        (1, "ringbuf:21"), (2, "ringbuf:24"), (3, "ringdev:85"), (3, "")]
    assert out.results[0].to_json()["faults"] == 1


def test_races_line_reports_each_pair_and_its_schedules(tmp_path: Path) -> None:
    done = check(MODULES / "usbled.py", tmp_path / "reports")
    races = line(done, "races of file operations")
    assert races.verdict is Verdict.PASS, races.detail
    # 5 file operations of /dev/usbled0 against unplug, unbind and rmmod: 15 pairs
    assert races.detail.startswith("15 pairs, ") and "schedules of at most 2 preemptions" in races.detail
    counts = dict(part.rsplit(": ", 1) for part in races.detail.split(" (", 1)[1].rstrip(")").split(", "))
    assert set(counts) >= {"read fd0 16 / unplug dev0", "close fd0 / unbind dev0",
                           "open /dev/usbled0 / rmmod usbled"}
    assert all(int(n) >= 2 for n in counts.values())  # each pair: both start orders at least


def test_nodes_are_learnt_again_after_each_plug_and_bind(tmp_path: Path) -> None:
    """A correct driver naming its misc node from a counter never reused (/dev/countnode0,
    then countnode1 after the rebind, countnode2 after the replug) passes: the device
    cycles open the names there are after each plug and bind, not the first ones."""
    done = check(ROOT / "tests" / "data" / "countnode.py", tmp_path / "reports")
    assert not done.failed, [(r.name, r.detail) for r in done.results if r.failed]
    assert line(done, "plug/unplug").verdict is Verdict.PASS
    assert done.findings == []
