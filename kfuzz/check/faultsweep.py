"""Systematic fault injection, as syzkaller's fail_nth sweep: fail the 1st, 2nd, ...
fallible call of one operation, each in a fresh kernel, until the operation makes
no more fallible calls (the operation's outcome counts them).

A failing call must be handled: nothing left behind (the kernel checks at the
failed init and at the end of the program), no crash, no warning.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .probe import Prober
from .result import CheckFinding, CheckResult, Verdict
from .sites import ioctl_line
from .surface import Surface

MAX_NTH = 64  # a guard: no operation of a sane module makes more fallible calls
IO_LINES = ("read fd0 16", 'write fd0 "kfuzz"', "lseek fd0 0 SEEK_SET", "poll fd0", "fcntl fd0 FASYNC")


@dataclass
class Sweep:
    """The lines before, and the line whose fallible calls fail in turn."""

    setup: tuple[str, ...]
    line: str


@dataclass
class SweepResult:
    findings: list[CheckFinding]
    programs: int
    failed_calls: int  # how many N made a call fail


def sweep(prober: Prober, s: Sweep) -> SweepResult:
    result = SweepResult([], 0, 0)
    at = len(s.setup)
    for nth in range(1, MAX_NTH + 1):
        lines = [*s.setup, f"{s.line} (fail_nth: {nth})"]
        outcome = prober.run(lines)
        result.programs += 1
        if outcome.finding is not None and not any(f.title == outcome.finding.title for f in result.findings):
            result.findings.append(prober.report(outcome, lines))
        if len(outcome.results) <= at:  # the setup itself failed: nothing more to learn
            break
        if outcome.results[at].faults < nth:  # no N-th fallible call: the sweep is over
            break
        result.failed_calls += 1
    return result


def _line(name: str, sweeps: list[Sweep], prober: Prober, none: str) -> CheckResult:
    start = time.monotonic()
    if not sweeps:
        return CheckResult(name, Verdict.SKIP, none, time.monotonic() - start)
    findings: list[CheckFinding] = []
    programs = failed = 0
    for s in sweeps:
        r = sweep(prober, s)
        programs += r.programs
        failed += r.failed_calls
        findings += [f for f in r.findings if f not in findings]
    verdict = Verdict.FAIL if findings else Verdict.PASS
    detail = f"{len(sweeps)} operation(s), {failed} fallible call(s) failed in turn, {programs} programs"
    if findings:
        detail = "; ".join(f.title for f in findings)
    return CheckResult(name, verdict, detail, time.monotonic() - start, findings)


def fault_checks(prober: Prober, surface: Surface) -> list[CheckResult]:
    """The four sweeps, a checklist line each: init, probe, open, the other file operations."""
    target = surface.target
    init = [Sweep(tuple(f"modprobe {d}" for d in surface.deps), f"modprobe {target}")]
    probe = [Sweep((f"modprobe {target}",), f"plug {bus} {dev_id} -> dev0") for bus, dev_id in surface.ids]
    opens = [Sweep(node.setup, f"open {node.path} -> fd0") for node in surface.nodes]
    io = [ioctl_line(cmd) for cmd in surface.ioctls]
    fops = [Sweep((*node.setup, f"open {node.path} -> fd0"), line)
            for node in surface.nodes for line in (*IO_LINES, *io, "close fd0")]
    return [
        _line("fault injection: init", init, prober, ""),
        _line("fault injection: probe", probe, prober, "no device table"),
        _line("fault injection: open", opens, prober, "no node"),
        _line("fault injection: read, write, ioctl, lseek, poll, fcntl, release", fops, prober, "no node"),
    ]
