"""Report folders: one per distinct bug, kept across runs, never half-written.

A new folder is built beside its final place and renamed into it; an update
replaces file by file, each through a temporary file and an atomic rename,
report.json last.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import uuid
from pathlib import Path
from typing import Any

from .lock import store_lock
from .markdown import report_markdown, test_source
from .record import ReportRecord


def folder_name(kind: str, title: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.]+", "-", title).strip("-.")
    return f"{kind}-{slug}"[:120]


def read_report(folder: Path) -> dict[str, Any] | None:
    """The folder's report.json as a dict, or None when there is none to read."""
    try:
        data = json.loads((folder / "report.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_record(folder: Path) -> ReportRecord | None:
    """The folder's record, or None when its report.json is missing, unreadable or not kfuzz's."""
    data = read_report(folder)
    try:
        return ReportRecord.from_json(data) if data is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


def _text(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, ValueError):
        return None


def _readable(path: Path) -> bool:
    try:
        path.read_text()
    except (OSError, ValueError):
        return False
    return True


def _mode(folder: Path) -> int:
    """The permission bits of a folder (made under the user's umask): reports get the same."""
    return stat.S_IMODE(folder.stat().st_mode)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(fd, _mode(path.parent) & 0o666)  # mkstemp's 0600 would hide the report
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _files(data: dict[str, Any]) -> dict[str, str]:
    return {
        "repro.kfz": data["repro"],
        "report.md": report_markdown(data),
        "test_repro.py": test_source(data["title"]),
        "report.json": json.dumps(data, indent=2) + "\n",
    }


# Every folder holds a test_repro.py: pytest's default import mode would take them
# all for one module; in importlib mode `pytest reports/` runs each. Their `kernel`
# fixture is kfuzz's plugin, named here too for where entry points are not loaded.
PYTEST_INI = """\
# written by kfuzz: `pytest reports/` runs every report's test_repro.py
[pytest]
addopts = --import-mode=importlib -p no:cacheprovider -p kfuzz.pytest_plugin
"""
OLD_PYTEST_INIS = (PYTEST_INI.replace(" -p kfuzz.pytest_plugin", ""),)  # replaced where found


def write_report(root: Path, record: ReportRecord, now: str, run: str | None = None) -> Path:
    """Writes or updates the bug's folder under root; returns the folder. Each run
    counts once (`run` names it), however often it writes the folder. Raises
    OSError when the folder cannot be written (no permission, a full disk)."""
    root.mkdir(parents=True, exist_ok=True)
    with store_lock(root):
        if not (root / "pytest.ini").exists() or _text(root / "pytest.ini") in OLD_PYTEST_INIS:
            _atomic_write(root / "pytest.ini", PYTEST_INI)
        folder = root / folder_name(record.kind, record.title)
        old = read_record(folder)
        if old is not None and not _readable(folder / "repro.kfz"):
            old = None
        if old is None and folder.exists():
            quarantine(folder, now)
        files = _files(record.merged(old, now, run or uuid.uuid4().hex).to_json())
        if old is None:
            _create(root, folder, files)
        else:
            for name, text in files.items():
                _atomic_write(folder / name, text)
    return folder


def _create(root: Path, folder: Path, files: dict[str, str]) -> None:
    """A new folder, built beside its place and renamed into it whole."""
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-"))
    try:
        staging.chmod(_mode(root))  # mkdtemp's 0700 would hide the report
        for name, text in files.items():
            (staging / name).write_text(text)
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def quarantine(folder: Path, now: str) -> Path:
    """Moves a report folder kfuzz cannot read (its report.json or repro.kfz is
    missing, unreadable or not kfuzz's) aside as `.corrupt-TIME-NAME`, never deleting it:
    it may hold the only copy of a bug, or someone's notes."""
    stamp = re.sub(r"[^0-9T]", "", now)[:15] or "0"
    aside = folder.with_name(f".corrupt-{stamp}-{folder.name}")
    n = 1
    while aside.exists():
        n += 1
        aside = folder.with_name(f".corrupt-{stamp}-{n}-{folder.name}")
    os.rename(folder, aside)
    return aside
