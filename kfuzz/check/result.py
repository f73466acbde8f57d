"""What a check found: one result per checklist line, and a module's whole check.

This is the seam for CI outputs (JUnit, SARIF, summary, stats, baseline): a
`ModuleCheck` is one module checked, its `results` the checklist's lines, each
with its verdict, time and the findings it wrote a report for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Verdict(StrEnum):
    """A line's verdict. Only FAIL fails the check: WARN and INFO are shown, not counted."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    INFO = "info"
    SKIP = "skip"  # nothing to check (no device table, no node)


@dataclass
class CheckFinding:
    """A bug a check met: its title and kind, the program that gives it, its report folder."""

    title: str
    kind: str
    module: str
    function: str
    repro: str
    report: Path | None = None


@dataclass
class CheckResult:
    """One line of the checklist."""

    name: str
    verdict: Verdict
    detail: str = ""
    seconds: float = 0.0
    findings: list[CheckFinding] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.FAIL


@dataclass
class Unreached:
    """What no check reached: fallible call sites never made to fail, file operations no
    node exposed."""

    sites: list[str] = field(default_factory=list)  # "function (file:line): kmalloc"
    fops: list[str] = field(default_factory=list)  # "ringdev_fops.llseek"


@dataclass
class ModuleCheck:
    """One module checked: its checklist lines, in order, and what was never reached."""

    module: str
    path: Path
    results: list[CheckResult] = field(default_factory=list)
    unreached: Unreached = field(default_factory=Unreached)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.results)

    @property
    def findings(self) -> list[CheckFinding]:
        """Each distinct bug once (by title), in the order the checks met them."""
        seen: dict[str, CheckFinding] = {}
        for r in self.results:
            for f in r.findings:
                seen.setdefault(f.title, f)
        return list(seen.values())
