"""Report folders (kfuzz/report): one per distinct bug, kept across runs, never half-written."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kfuzz.kernel import Finding
from kfuzz.report import ReportRecord, folder_name, read_record, read_report, write_report
from kfuzz.report import writer as writer_mod

ROOT = Path(__file__).resolve().parents[1]
OOBWRITE = ROOT / "target_modules" / "buggy" / "oobwrite.py"
TITLE = "KASAN: slab-out-of-bounds in oobwrite_write"
FILES = ["report.json", "report.md", "repro.kfz", "test_repro.py"]
# every field repro-format.md says report.json holds
FIELDS = ["title", "kind", "module", "function", "repro", "steps", "reproduced", "replays",
          "minimized", "site", "modules", "schema_version", "first_seen", "last_seen", "count", "seed",
          "dmesg"]
T1, T2, T3 = "2025-01-01T00:00:00+00:00", "2025-01-02T00:00:00+00:00", "2025-01-03T00:00:00+00:00"


def repro(writes: int = 1, modules: Path = OOBWRITE) -> str:
    lines = ["# kfuzz repro", f"# modules: {modules}", "insmod oobwrite", "open /dev/oobwrite -> fd0"]
    lines += ['write fd0 "' + "A" * 80 + '"'] * writes
    return "\n".join(lines) + "\n"


def bug(steps: int = 3, reproduced: int = 3, seed: int | None = 7, text: str | None = None,
        title: str = TITLE, kind: str = "out-of-bounds", minimized: bool = True) -> ReportRecord:
    finding = Finding(kind=kind, title=title, module="oobwrite", function="oobwrite_write",
                      message="access out of bounds: bytes 0..80 of 64 of a 64-byte buffer",
                      traceback=['  File "oobwrite.py", line 23, in oobwrite_write'],
                      alloc_site=['  File "oobwrite.py", line 43, in oobwrite_init'])
    return ReportRecord.of(finding, text if text is not None else repro(steps - 2), steps,
                           reproduced=reproduced, replays=3, seed=seed, minimized=minimized,
                           dmesg=["[    0.000000] KASAN: slab-out-of-bounds in oobwrite_write"])


def leftovers(root: Path) -> list[str]:
    """Hidden names (staging folders, temporary files) anywhere under root."""
    return [str(p.relative_to(root)) for p in root.rglob(".*") if p.name != ".lock"]


def test_new_report_has_the_four_files_and_every_field(tmp_path: Path) -> None:
    rep = bug()
    folder = write_report(tmp_path, rep, T1)
    assert folder == tmp_path / folder_name("out-of-bounds", TITLE)
    assert folder.name == "out-of-bounds-KASAN-slab-out-of-bounds-in-oobwrite_write"
    assert sorted(p.name for p in folder.iterdir()) == FILES
    data = json.loads((folder / "report.json").read_text())
    assert set(FIELDS) <= set(data)
    assert data == read_report(folder)
    assert (data["title"], data["kind"], data["module"], data["function"]) == (
        TITLE, "out-of-bounds", "oobwrite", "oobwrite_write")
    assert data["repro"] == rep.repro == (folder / "repro.kfz").read_text()
    assert (data["steps"], data["reproduced"], data["replays"], data["seed"]) == (3, 3, 3, 7)
    assert (data["first_seen"], data["last_seen"], data["count"]) == (T1, T1, 1)
    assert data["dmesg"] == rep.dmesg
    md = (folder / "report.md").read_text()
    for text in (f"# {TITLE}", "`out-of-bounds`", "3 of 3 replays", "seed 7", "insmod oobwrite",
                 "line 23, in oobwrite_write", "line 43, in oobwrite_init", "## Kernel log"):
        assert text in md, text
    assert f"TITLE = {TITLE!r}" in (folder / "test_repro.py").read_text()
    assert leftovers(tmp_path) == []


def test_folder_names_are_safe_and_bounded() -> None:
    name = folder_name("warning", "WARNING: dangling chrdev registration ring/dev after unload")
    assert name == "warning-WARNING-dangling-chrdev-registration-ring-dev-after-unload"
    assert "/" not in folder_name("oops", "../../" + "x" * 300)
    assert len(folder_name("oops", "x" * 300)) == 120


def test_same_title_again_updates_count_and_last_seen(tmp_path: Path) -> None:
    folder = write_report(tmp_path, bug(), T1)
    assert write_report(tmp_path, bug(seed=8), T2) == folder
    assert write_report(tmp_path, bug(seed=9), T3) == folder
    data = read_report(folder)
    assert (data["first_seen"], data["last_seen"], data["count"]) == (T1, T3, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", folder.name, "pytest.ini"]  # one folder
    assert "found 3 time(s)" in (folder / "report.md").read_text()
    assert leftovers(tmp_path) == []


def test_a_longer_repro_does_not_replace_a_shorter_one(tmp_path: Path) -> None:
    short = bug(steps=3, seed=1)
    folder = write_report(tmp_path, short, T1)
    write_report(tmp_path, bug(steps=5, seed=2), T2)
    data = read_report(folder)
    assert (data["steps"], data["seed"], data["repro"]) == (3, 1, short.repro)
    assert (folder / "repro.kfz").read_text() == short.repro
    assert (data["count"], data["last_seen"]) == (2, T2)  # still counted
    shorter = bug(steps=2, text=repro(0), seed=3)
    write_report(tmp_path, shorter, T3)
    data = read_report(folder)
    assert (data["steps"], data["seed"], data["count"]) == (2, 3, 3)
    assert (folder / "repro.kfz").read_text() == shorter.repro
    assert "## Repro (2 steps)" in (folder / "report.md").read_text()


def test_same_length_repro_that_reproduces_more_often_wins(tmp_path: Path) -> None:
    folder = write_report(tmp_path, bug(reproduced=2, seed=1), T1)
    write_report(tmp_path, bug(reproduced=1, seed=2), T2)
    assert read_report(folder)["seed"] == 1
    write_report(tmp_path, bug(reproduced=3, seed=3), T3)
    assert (read_report(folder)["reproduced"], read_report(folder)["seed"]) == (3, 3)


def test_a_folder_without_a_readable_report_is_moved_aside_never_deleted(tmp_path: Path) -> None:
    debris = tmp_path / folder_name("out-of-bounds", TITLE)
    debris.mkdir()
    (debris / "repro.kfz").write_text("half")
    folder = write_report(tmp_path, bug(), T2)
    assert folder == debris
    assert read_report(folder)["count"] == 1
    assert sorted(p.name for p in folder.iterdir()) == FILES
    [aside] = [p for p in tmp_path.iterdir() if p.name.startswith(".corrupt-")]
    assert aside.name.endswith(debris.name) and (aside / "repro.kfz").read_text() == "half"


@pytest.mark.parametrize("damage", ["garbage report.json", "report.json of another tool",
                                    "no repro.kfz", "repro.kfz not UTF-8"])
def test_a_damaged_report_folder_is_moved_aside_and_the_run_goes_on(tmp_path: Path, damage: str) -> None:
    folder = write_report(tmp_path, bug(), T1)
    if damage == "garbage report.json":
        (folder / "report.json").write_bytes(b"{\x00not json")
    elif damage == "report.json of another tool":
        (folder / "report.json").write_text(json.dumps({"tool": "other", "findings": []}))
    elif damage == "no repro.kfz":
        (folder / "repro.kfz").unlink()
    else:
        (folder / "repro.kfz").write_bytes(b"\xff\xfe insmod")
    again = write_report(tmp_path, bug(), T2)
    assert again == folder and read_report(folder)["count"] == 1  # a new report, counted afresh
    [aside] = [p for p in tmp_path.iterdir() if p.name.startswith(".corrupt-")]
    assert aside.name == f".corrupt-20250102T000000-{folder.name}"
    assert sorted(p.name for p in aside.iterdir()) == sorted(
        f for f in FILES if not (damage == "no repro.kfz" and f == "repro.kfz"))


def test_failed_new_report_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer_mod.os, "rename", boom)  # the last step of a new folder
    with pytest.raises(OSError, match="disk full"):
        write_report(tmp_path, bug(), T1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "pytest.ini"]  # no report, no debris


def test_failed_update_keeps_the_old_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_report(tmp_path, bug(), T1)
    before = (folder / "report.json").read_text()

    def boom(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer_mod.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        write_report(tmp_path, bug(), T2)
    assert (folder / "report.json").read_text() == before
    assert sorted(p.name for p in folder.iterdir()) == FILES
    assert leftovers(tmp_path) == []


def test_reports_are_as_readable_as_their_folder(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    root.mkdir()
    root.chmod(0o755)
    folder = write_report(root, bug(), T1)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    write_report(root, bug(steps=2, text=repro(0)), T2)  # an update rewrites every file
    for name in FILES:
        assert stat.S_IMODE((folder / name).stat().st_mode) & 0o044 == 0o044, name


def run_generated_test(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(folder / "test_repro.py")],
                          capture_output=True, text=True, timeout=120, cwd=folder.parent,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def test_generated_test_fails_while_the_bug_is_there(tmp_path: Path) -> None:
    folder = write_report(tmp_path, bug(), T1)
    run = run_generated_test(folder)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed" in run.stdout
    assert f"{TITLE}: access out of bounds" in run.stdout


def test_generated_test_passes_once_the_bug_is_fixed(tmp_path: Path) -> None:
    fixed = tmp_path / "oobwrite.py"
    fixed.write_text(OOBWRITE.read_text().replace(
        "    mbox[0:len(data)] = data", "    data = data[:MBOX_SIZE]\n    mbox[0:len(data)] = data"))
    folder = write_report(tmp_path / "reports", bug(text=repro(1, modules=fixed)), T1)
    run = run_generated_test(folder)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_pytest_on_the_reports_folder_runs_every_report(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    write_report(root, bug(), T1)
    write_report(root, bug(title="KASAN: slab-out-of-bounds in oobwrite_again"), T1)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "reports"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert "2 failed" in run.stdout and "error" not in run.stdout, run.stdout + run.stderr


def test_a_run_counts_once_however_often_it_writes_the_folder(tmp_path: Path) -> None:
    folder = write_report(tmp_path, bug(minimized=False, reproduced=0), T1, run="run-a")
    assert read_report(folder)["minimized"] is False
    write_report(tmp_path, bug(), T2, run="run-a")  # the same run, once minimized
    data = read_report(folder)
    assert (data["count"], data["minimized"], data["reproduced"]) == (1, True, 3)
    write_report(tmp_path, bug(), T3, run="run-b")
    assert read_report(folder)["count"] == 2


def test_a_minimized_repro_is_not_replaced_by_one_as_found(tmp_path: Path) -> None:
    folder = write_report(tmp_path, bug(steps=4), T1, run="a")
    write_report(tmp_path, bug(steps=3, minimized=False, reproduced=0), T2, run="b")
    data = read_report(folder)
    assert (data["steps"], data["minimized"], data["count"]) == (4, True, 2)


def test_old_report_folders_are_read(tmp_path: Path) -> None:
    folder = tmp_path / "oops-old"
    folder.mkdir()
    old = {"title": TITLE, "kind": "out-of-bounds", "module": "oobwrite", "function": "oobwrite_write",
           "repro": repro(), "steps": 3, "reproduced": 3, "replays": 3, "first_seen": T1,
           "last_seen": T1, "count": 4, "seed": 0, "dmesg": [], "message": "m", "traceback": [],
           "alloc_site": [], "free_site": []}
    (folder / "report.json").write_text(json.dumps(old))
    record = read_record(folder)
    assert record is not None
    assert (record.count, record.minimized, record.schema_version, record.site) == (4, True, 1, None)
    assert ReportRecord.from_json(record.to_json()) == record
