"""`--sarif FILE`: the findings as SARIF 2.1.0, as GitHub code scanning takes it.

One rule per kind of finding; one result per finding, at the guilty line of the
module file (the report's `site`), its path relative to the git repository root
(or, outside one, to the current directory). A result's `partialFingerprints`
come from its title alone, so a bug keeps its alert when lines move; GitHub reads
`primaryLocationLineHash` only, so that key carries it.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..kernel.findings import KINDS
from ..report.record import shown_path
from .files import atomic_write
from .rules import SECURITY, WARNINGS, text_of
from .runlog import Found, RunLog

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"


def kfuzz_version() -> str:
    try:
        return version("kfuzz")
    except PackageNotFoundError:
        return "0"


def source_root(cwd: Path | None = None) -> Path:
    """The git repository holding the current directory (a `.git` folder, or the
    `.git` file of a worktree), else the current directory."""
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def folder_uri(folder: Path) -> str:
    uri = folder.as_uri()
    return uri if uri.endswith("/") else uri + "/"


def fingerprint(title: str) -> str:
    return hashlib.sha256(title.encode()).hexdigest()


def level(kind: str) -> str:
    return "warning" if kind in WARNINGS else "error"


def rule(kind: str) -> dict[str, Any]:
    text = text_of(kind)
    tags = ["kfuzz", "reliability"] + (["security"] if kind in SECURITY else [])
    return {
        "id": kind,
        "name": "".join(part.capitalize() for part in kind.split("-")),
        "shortDescription": {"text": text.short},
        "fullDescription": {"text": text.full},
        "help": {"text": f"{text.full} {text.fix} Replay the report folder with `kfuzz replay DIR`.",
                 "markdown": f"{text.full}\n\n{text.fix}\n\nEach finding has a report folder: "
                             f"`kfuzz replay DIR` runs its minimized repro."},
        "defaultConfiguration": {"level": level(kind)},
        "properties": {"tags": tags, "precision": "high",
                       "problem.severity": "warning" if kind in WARNINGS else "error"},
    }


class Locator:
    """Where a finding is, as GitHub wants it: a path relative to the source root and
    the whole guilty line as the region."""

    def __init__(self, root: Path):
        self.root = root
        self.lines: dict[Path, list[str]] = {}

    def uri(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_uri()

    def region(self, path: Path, line: int) -> dict[str, int]:
        if path not in self.lines:
            try:
                self.lines[path] = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                self.lines[path] = []
        text = self.lines[path][line - 1] if 0 < line <= len(self.lines[path]) else ""
        start = len(text) - len(text.lstrip()) + 1
        end = max(len(text.rstrip()) + 1, start + 1)
        return {"startLine": max(line, 1), "startColumn": start, "endLine": max(line, 1), "endColumn": end}

    def site(self, found: Found) -> tuple[Path, int, str] | None:
        """The guilty file, line and function: the report's site, else the finding's, else
        the module's file at line 1."""
        record = found.record
        if record is not None and record.site:
            site = record.site
            return Path(site["file"]).resolve(), int(site["line"]), site["function"]
        if found.finding is not None and found.finding.site is not None:
            s = found.finding.site
            return Path(s.file).resolve(), s.line, s.function
        if record is not None and found.folder is not None:
            for shown in record.modules:
                path = (found.folder / shown).resolve()
                if path.stem == record.module:
                    return path, 1, record.function
        return None

    def locations(self, found: Found) -> list[dict[str, Any]]:
        site = self.site(found)
        if site is None:
            return []
        path, line, function = site
        return [{"physicalLocation": {"artifactLocation": {"uri": self.uri(path), "uriBaseId": SRCROOT},
                                      "region": self.region(path, line)},
                 "message": {"text": f"in {function}" if function else "here"}}]


def result(found: Found, locator: Locator, index: dict[str, int], baseline: bool) -> dict[str, Any]:
    hashed = fingerprint(found.title)
    out: dict[str, Any] = {
        "ruleId": found.kind,
        "ruleIndex": index[found.kind],
        "level": level(found.kind),
        "message": {"text": found.title},
        "locations": locator.locations(found),
        "partialFingerprints": {"primaryLocationLineHash": hashed[:32], "kfuzz/title/v1": hashed},
        "properties": {"module": found.target, "kind": found.kind},
    }
    if baseline:
        out["baselineState"] = "unchanged" if found.known else "new"
    if found.folder is not None:
        out["properties"]["report"] = shown_path(str(found.folder))
    if found.record is not None:
        out["properties"].update(function=found.record.function, repro=found.record.repro,
                                 reproduced=f"{found.record.reproduced}/{found.record.replays}")
    return out


def sarif_log(log: RunLog, root: Path | None = None) -> dict[str, Any]:
    root = root or source_root()
    kinds = list(KINDS) + sorted({f.kind for f in log.findings()} - set(KINDS))
    index = {kind: i for i, kind in enumerate(kinds)}
    locator = Locator(root)
    # a bug of a shared dependency, met while fuzzing two targets, is one alert
    unique: dict[str, Found] = {}
    for found in log.findings():
        unique.setdefault(found.title, found)
    results = [result(f, locator, index, log.baseline.folder is not None) for f in unique.values()]
    driver = {"name": "kfuzz", "version": kfuzz_version(), "semanticVersion": kfuzz_version(),
              "rules": [rule(kind) for kind in kinds]}
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "automationDetails": {"id": f"kfuzz/{log.command}/"},
            "originalUriBaseIds": {SRCROOT: {"uri": folder_uri(root)}},
            "invocations": [{"executionSuccessful": not log.interrupted,
                             "workingDirectory": {"uri": folder_uri(Path.cwd().resolve())}}],
            "results": results,
        }],
    }


class SarifOutput(RunLog):
    def __init__(self, path: Path, **kw):  # noqa: ANN003 - RunLog's
        super().__init__(**kw)
        self.path = path

    def finish(self) -> None:
        atomic_write(self.path, json.dumps(sarif_log(self), indent=2) + "\n")

