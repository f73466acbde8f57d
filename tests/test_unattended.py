"""Runs that can be left alone: memory stays flat, a signal stops a run with its
reports written, a kill loses no finding, and no worker outlives its fuzzer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kfuzz.replay import replay_path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "target_modules"
REPORT_FILES = {"report.json", "report.md", "repro.kfz", "test_repro.py"}
UAF = "KASAN: use-after-free in usbuaf_read"
# serial programs only: two reads at once race on usbuaf's unlocked counter too ("KCSAN:
# data-race in usbuaf_read / usbuaf_read", a bug of its own), and these tests, about
# stopping a run, want one bug whose report they can check
SERIAL = "--no-groups"


def interruptible() -> None:
    """Ctrl-C's default action in the child, whatever this process inherited: a shell
    starts a background job (`pytest &` in a script) with SIGINT ignored, and an ignored
    signal stays ignored across exec, so the fuzzer would never see the tests' Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_fuzz(tmp_path: Path, module: Path, *args: str) -> subprocess.Popen[str]:
    """`kfuzz fuzz` as a CI job starts it: its own process group, output to a pipe."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "kfuzz.cli", "fuzz", str(module), "--no-db",
         "--reports", str(tmp_path / "reports"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env,
        start_new_session=True, preexec_fn=interruptible)


def read_until(proc: subprocess.Popen[str], text: str) -> list[str]:
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if text in line:
            return lines
    pytest.fail(f"the run ended before printing {text!r}:\n" + "".join(lines))


def report_folders(reports: Path) -> list[Path]:
    folders = [p for p in reports.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert not [p for p in reports.iterdir() if p.name.startswith(".staging")]
    for folder in folders:
        assert {p.name for p in folder.iterdir()} == REPORT_FILES
    return folders


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (the fuzzer's kernel workers)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_to_the_process_group_exits_143_with_every_report_written(tmp_path: Path) -> None:
    proc = start_fuzz(tmp_path, TARGETS / "buggy" / "usbuaf.py", "--module-path", str(TARGETS), SERIAL,
                      "--time-budget", "120", "--seed", "1")
    read_until(proc, "found ")
    os.killpg(proc.pid, signal.SIGTERM)
    signalled = time.monotonic()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out
    assert time.monotonic() - signalled < 5, "the run must end within 5 s of the signal"
    [folder] = report_folders(tmp_path / "reports")
    data = json.loads((folder / "report.json").read_text())
    assert data["title"] == UAF and data["repro"].strip()


def test_a_run_killed_after_its_first_finding_leaves_a_report_that_replays(tmp_path: Path) -> None:
    proc = start_fuzz(tmp_path, TARGETS / "buggy" / "usbuaf.py", "--module-path", str(TARGETS), SERIAL,
                      "--time-budget", "120", "--seed", "1")
    found = read_until(proc, "found ")
    read_until(proc, "reported ")  # the report as found, written at once
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    [folder] = report_folders(tmp_path / "reports")
    data = json.loads((folder / "report.json").read_text())
    assert data["title"] == UAF, found
    assert data["minimized"] is False and data["replays"] == 0 and data["count"] == 1
    outcome = replay_path(folder)
    assert outcome.finding is not None and outcome.finding.title == UAF


def test_no_worker_outlives_a_killed_fuzzer(tmp_path: Path) -> None:
    proc = start_fuzz(tmp_path, TARGETS / "edu_pci.py", "--module-path", str(TARGETS),
                      "--time-budget", "120")
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while not workers and time.monotonic() < deadline and proc.poll() is None:
        workers = children(proc.pid)
        time.sleep(0.05)
    assert workers, "no kernel worker started"
    proc.kill()  # the fuzzer alone, as the OOM killer would: not its process group
    proc.wait(timeout=10)
    killed = time.monotonic()
    while any(running(w) for w in workers) and time.monotonic() - killed < 1.0:
        time.sleep(0.02)
    assert not any(running(w) for w in workers), "a kernel worker outlived its fuzzer"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_memory_stays_flat_over_a_minute(tmp_path: Path) -> None:
    # the short version of bench/bench_soak.py: Hypothesis's per-run state grows with
    # every test case of a run, so runs are kept short
    proc = start_fuzz(tmp_path, TARGETS / "edu_pci.py", "--module-path", str(TARGETS),
                      "--time-budget", "70")
    try:
        started = time.monotonic()
        rss = {}
        for at in (15, 60):
            time.sleep(max(0.0, started + at - time.monotonic()))
            assert proc.poll() is None, proc.communicate()[0]
            rss[at] = rss_kb(proc.pid)
        assert rss[60] <= 1.5 * rss[15], rss
    finally:
        proc.kill()
        proc.wait()
