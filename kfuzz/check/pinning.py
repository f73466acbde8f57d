"""An open file pins the module: with a /dev node open, rmmod fails with -EBUSY, and it
succeeds once the file is closed.

Every /dev node the module creates is checked: a node whose file_operations name
no owner fails here, as it should, since Linux would then run the module's code
after rmmod."""

from __future__ import annotations

import time

from .probe import Prober
from .result import CheckFinding, CheckResult, Verdict
from .surface import Surface

NAME = "an open file pins the module"


def pin_lines(surface: Surface, path: str, setup: tuple[str, ...]) -> list[str]:
    rmmod = f"rmmod {surface.target}"
    return [*setup, f"open {path} -> fd0", rmmod, "read fd0 16", "close fd0", rmmod]


def pinning(prober: Prober, surface: Surface) -> CheckResult:
    start = time.monotonic()
    nodes = [n for n in surface.nodes if n.is_dev]
    if not nodes:
        return CheckResult(NAME, Verdict.SKIP, "no /dev node", 0.0)
    findings: list[CheckFinding] = []
    bad: list[str] = []
    for node in nodes:
        lines = pin_lines(surface, node.path, node.setup)
        outcome = prober.run(lines)
        if outcome.finding is not None:
            findings.append(prober.report(outcome, lines))
            continue
        at = len(node.setup)
        got = [r.result for r in outcome.results[at:]]
        if len(got) < 5 or got[0] != "fd0":
            bad.append(f"{node.path}: open gave {got[0] if got else None}")
        elif got[1] != "-EBUSY":
            bad.append(f"{node.path}: rmmod while it is open gave {got[1]}, not -EBUSY")
        elif got[4] != 0:
            bad.append(f"{node.path}: rmmod after close gave {got[4]}")
    took = time.monotonic() - start
    if findings:
        return CheckResult(NAME, Verdict.FAIL, "; ".join(f.title for f in findings), took, findings)
    if bad:
        return CheckResult(NAME, Verdict.FAIL, bad[0], took)
    return CheckResult(NAME, Verdict.PASS, f"{', '.join(n.path for n in nodes)}: -EBUSY while open", took)
