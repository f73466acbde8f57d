"""The short fuzz run: the fuzzer over the module and its dependencies, with a fixed
seed and a fixed number of test cases and no example database, so that the same
module gets the same verdict every time."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from ..fuzz import Events, FuzzOptions, fuzz
from ..kernel import ModuleIndex
from .result import CheckFinding, CheckResult, Verdict

SEED = 0
DEFAULT_EXAMPLES = 200


def fuzz_part(target: str, index: ModuleIndex, examples: int, reports: Path, isolation: str,
              op_timeout: float, events: Events | None = None) -> CheckResult:
    name = f"fuzz: {examples} cases, seed {SEED}"
    if examples == 0:
        return CheckResult(name, Verdict.SKIP, "--fuzz-examples 0")
    start = time.monotonic()
    opts = replace(FuzzOptions(), seed=SEED, max_examples=examples, time_budget=None, db_dir=None,
                   reports=reports, op_timeout=op_timeout)
    result = fuzz([target], index, opts, events or Events(), isolation)
    findings = [CheckFinding(r.finding.title, str(r.finding.kind), r.finding.module, r.finding.function,
                             "".join(op.format() + "\n" for op in r.ops), r.reported)
                for _, r in result.records]
    took = time.monotonic() - start
    if findings:
        return CheckResult(name, Verdict.FAIL, "; ".join(f.title for f in findings), took, findings)
    return CheckResult(name, Verdict.PASS, f"{result.cases} test cases, {result.ops} operations", took)
