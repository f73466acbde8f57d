"""Load and unload cycles: each ends clean, and the Python heap does not grow across
them. The program is the fuzzer's python-leak probe (`# check: python-leak`), so the
heap is measured by the same code (prog/heapcheck.py), with its threshold above the
kernel's own noise."""

from __future__ import annotations

import time

from ..prog.outcome import failed
from .probe import Prober
from .result import CheckResult, Verdict
from .surface import Surface

CHECKS = ("python-leak",)


def load_cycles(prober: Prober, surface: Surface) -> CheckResult:
    start = time.monotonic()
    lines = [f"modprobe {surface.target}", f"rmmod {surface.target}"]
    outcome = prober.run(lines, CHECKS)
    took = time.monotonic() - start
    if outcome.finding is not None:
        found = prober.report(outcome, lines, CHECKS)
        return CheckResult("load and unload cycles", Verdict.FAIL, found.title, time.monotonic() - start, [found])
    bad = [f"{r.op}: {r.result}" for r in outcome.results if failed(r.result)]
    if bad:
        return CheckResult("load and unload cycles", Verdict.FAIL, f"a cycle failed: {bad[0]}", took)
    return CheckResult("load and unload cycles", Verdict.PASS,
                       "clean each cycle; the Python heap did not grow", took)
