"""Load and unload cycles: each ends clean, and the Python heap does not grow across
them. The program is the fuzzer's python-leak probe (`# check: python-leak`), so the
heap is measured by the same code (prog/heapcheck.py), with its threshold above the
kernel's own noise."""

from __future__ import annotations

import time

from ..kernel import Kind
from ..prog.outcome import failed
from .probe import Prober
from .result import CheckResult, Verdict
from .surface import Surface

CHECKS = ("python-leak",)
NAME = "load and unload cycles"


def load_cycles(prober: Prober, surface: Surface) -> CheckResult:
    start = time.monotonic()
    lines = [f"modprobe {surface.target}", f"rmmod {surface.target}"]
    outcome = prober.run(lines, CHECKS)
    if outcome.finding is not None:
        # another bug met on the way is an ordinary one, replayed plainly (as the fuzzer does)
        checks = CHECKS if outcome.finding.kind is Kind.PYTHON_LEAK else ()
        found = prober.report(outcome, lines, checks)
        return CheckResult(NAME, Verdict.FAIL, found.title, time.monotonic() - start, [found])
    took = time.monotonic() - start
    bad = [f"{r.op}: {r.result}" for r in outcome.results if failed(r.result)]
    if bad:
        return CheckResult(NAME, Verdict.FAIL, f"a cycle failed: {bad[0]}", took)
    return CheckResult(NAME, Verdict.PASS,
                       "clean each cycle; the Python heap did not grow", took)
