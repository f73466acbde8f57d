"""Storage faults: a reports folder that cannot be written, a full disk, damaged
entries and two runs sharing a store lose nothing and never end in a traceback."""

from __future__ import annotations

import errno
import json
import multiprocessing
from pathlib import Path

import pytest
from hypothesis.database import DirectoryBasedExampleDatabase, choices_to_bytes
from test_cli import kfuzz

from kfuzz.fuzz import repro as repro_mod
from kfuzz.fuzz.database import KeepingDatabase
from kfuzz.kernel import Finding
from kfuzz.report import ReportRecord, read_report, write_report

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "target_modules"
OOB = "KASAN: slab-out-of-bounds in oobwrite_write"


def test_a_reports_folder_that_cannot_be_written_is_refused_before_fuzzing(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = kfuzz("fuzz", TARGETS / "buggy" / "oobwrite.py", "--module-path", TARGETS, "--no-db",
                   "--max-examples", "5", "--reports", blocker / "reports")
    assert result.exit_code == 2, result.output
    assert f"--reports {blocker / 'reports'}: cannot write there (" in result.stderr
    assert "Not a directory" in result.stderr and "Traceback" not in result.output


def test_a_full_disk_mid_run_prints_each_bug_in_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(root: Path, *args: object, **kw: object) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(root / "x" / "report.json"))

    monkeypatch.setattr(repro_mod, "write_report", full)
    result = kfuzz("fuzz", TARGETS / "buggy" / "oobwrite.py", "--module-path", TARGETS, "--no-db",
                   "--max-examples", "60", "--reports", tmp_path / "reports")
    assert result.exit_code == 1, result.output  # the bug was found, all the same
    out = result.stdout
    assert "Traceback" not in out
    assert "No space left on device" in out and "not on disk, so here it is in full" in out
    assert OOB in out and "kind   out-of-bounds" in out
    # the repro, to save and replay (the fuzzer loads with insmod or modprobe)
    assert ("insmod oobwrite" in out or "modprobe oobwrite" in out) and "write fd0" in out


def record(run: int) -> ReportRecord:
    finding = Finding(kind="out-of-bounds", title=OOB, module="oobwrite", function="oobwrite_write")
    return ReportRecord.of(finding, "insmod oobwrite\n", 1, reproduced=3, replays=3, minimized=True)


def _write_many(root: str, writer: int, times: int) -> None:
    for i in range(times):
        write_report(Path(root), record(i), f"2026-01-01T00:00:{i % 60:02d}+00:00", run=f"run-{writer}-{i}")


def test_runs_sharing_a_reports_folder_lose_no_count(tmp_path: Path) -> None:
    # each write is a run of its own: without the store's lock, two read the old
    # count at once and one increment is lost
    writers, times = 4, 25
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), w, times)) for w in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    [folder] = [p for p in tmp_path.iterdir() if p.is_dir()]
    data = read_report(folder)
    assert data is not None and data["count"] == writers * times
    assert not [p for p in tmp_path.rglob(".*") if p.name != ".lock"]  # no torn or stray file


def test_a_foreign_entry_in_the_example_database_is_moved_aside_never_run(tmp_path: Path) -> None:
    db = KeepingDatabase(DirectoryBasedExampleDatabase(str(tmp_path / "db")))
    good = choices_to_bytes([3, True, b"x"])
    db.save(b"key", good)
    db.save(b"key", b"\xff\xff not an example")
    assert list(db.fetch(b"key")) == [good]
    [aside] = [p for p in (tmp_path / "db").rglob("*") if p.is_file() and ".corrupt-" in str(p)]
    assert aside.read_bytes() == b"\xff\xff not an example"
    assert list(db.fetch(b"key")) == [good]  # and it stays aside


def test_a_run_over_a_damaged_store_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the example database is .kfuzz/ here
    reports = tmp_path / "reports"
    first = kfuzz("fuzz", TARGETS / "buggy" / "oobwrite.py", "--module-path", TARGETS, "--max-examples", "60",
                  "--reports", reports)
    assert first.exit_code == 1, first.output
    [folder] = [p for p in reports.iterdir() if p.is_dir()]
    (folder / "report.json").write_text("{ torn")
    for entry in (Path(".kfuzz") / "examples").rglob("*"):
        if entry.is_file():
            entry.write_bytes(b"\x00garbage")
    again = kfuzz("fuzz", TARGETS / "buggy" / "oobwrite.py", "--module-path", TARGETS, "--max-examples", "60",
                  "--reports", reports)
    assert again.exit_code == 1 and "Traceback" not in again.output, again.output
    assert json.loads((folder / "report.json").read_text())["title"] == OOB
    assert [p.name for p in reports.iterdir() if p.name.startswith(".corrupt-")]
