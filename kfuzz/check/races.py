"""File operations against teardown, under every schedule of at most two preemptions.

Each pair is a file operation on a node the module makes (open, read, write, an
ioctl, close) and a teardown that can race it (unplug and unbind of the device
behind the node, rmmod of the module), run as a concurrent group after the lines
that make the node exist. Schedules are enumerated as CHESS does (Musuvathi et al.,
OSDI 2008), bounded by preemptions: the group runs in the default order, and every
point where the other task could have run (each run reports them) becomes a
schedule with one preemption more, up to two; the second always falls after the
first. Both tasks get to start first (the group in either order), so an operation
with no scheduling point of its own still meets the teardown before and after it.
Every pair's schedules run to the end unless one finds a bug.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .probe import Prober
from .result import CheckFinding, CheckResult, Verdict
from .sites import ioctl_line
from .surface import Surface

NAME = "races of file operations with unplug, unbind and rmmod"
MAX_PREEMPTIONS = 2
MAX_SCHEDULES = 500  # per pair: past it the pair is reported as cut short


@dataclass(frozen=True)
class Pair:
    setup: tuple[str, ...]
    op: str
    teardown: str

    @property
    def name(self) -> str:
        return f"{self.op.split(' -> ')[0]} / {self.teardown}"


@dataclass
class Explored:
    pair: Pair
    schedules: int
    cut: bool = False


def pairs(surface: Surface) -> list[Pair]:
    """Every file operation of each node against every teardown that can race it."""
    out: list[Pair] = []
    ioctl = ioctl_line(surface.ioctls[0])
    for node in surface.nodes:
        plugged = any(line.startswith("plug ") for line in node.setup)
        teardowns = (["unplug dev0", "unbind dev0"] if plugged else []) + [f"rmmod {surface.target}"]
        opened = (*node.setup, f"open {node.path} -> fd0")
        for teardown in teardowns:
            out.append(Pair(node.setup, f"open {node.path} -> fd0", teardown))
            for op in ("read fd0 16", 'write fd0 "kfuzz"', ioctl, "close fd0"):
                out.append(Pair(opened, op, teardown))
    return out


def group(pair: Pair, schedule: list[str], swapped: bool) -> str:
    first, second = (pair.teardown, pair.op) if swapped else (pair.op, pair.teardown)
    lines = ["together", f"  t1: {first}", f"  t2: {second}"]
    if schedule:
        lines.append("schedule: " + ", ".join(schedule))
    return "\n".join(lines)


def explore(prober: Prober, pair: Pair) -> tuple[Explored, CheckFinding | None]:
    """Runs the pair under each schedule of at most MAX_PREEMPTIONS preemptions."""
    frontier: list[tuple[bool, list[str]]] = [(False, []), (True, [])]
    runs = 0
    while frontier:
        if runs >= MAX_SCHEDULES:
            return Explored(pair, runs, cut=True), None
        swapped, schedule = frontier.pop(0)
        lines = [*pair.setup, group(pair, schedule, swapped)]
        outcome = prober.run(lines)
        runs += 1
        if outcome.finding is not None:
            return Explored(pair, runs), prober.report(outcome, lines)
        ran = next((r for r in outcome.results if r.op.startswith("together")), None)
        if ran is None or len(schedule) >= MAX_PREEMPTIONS or list(ran.schedule) != schedule:
            continue  # the setup failed, the bound is reached, or a preemption did not fire
        after = ran.reached
        if schedule:  # the next preemption comes after the last one
            last = schedule[-1].rsplit(" -> ", 1)[0]
            at = next((i for i, p in enumerate(after) if p.rsplit(" -> ", 1)[0] == last), len(after))
            after = after[at + 1:]
        frontier += [(swapped, [*schedule, point]) for point in dict.fromkeys(after)]
    return Explored(pair, runs), None


def races(prober: Prober, surface: Surface) -> CheckResult:
    start = time.monotonic()
    todo = pairs(surface)
    if not todo:
        return CheckResult(NAME, Verdict.SKIP, "no node to open", 0.0)
    findings: list[CheckFinding] = []
    done: list[Explored] = []
    for pair in todo:
        explored, finding = explore(prober, pair)
        done.append(explored)
        if finding is not None and finding not in findings:
            findings.append(finding)
    took = time.monotonic() - start
    tried = ", ".join(f"{e.pair.name}: {e.schedules}{' (cut short)' if e.cut else ''}" for e in done)
    total = sum(e.schedules for e in done)
    detail = f"{len(done)} pairs, {total} schedules of at most {MAX_PREEMPTIONS} preemptions ({tried})"
    if findings:
        return CheckResult(NAME, Verdict.FAIL, "; ".join(f.title for f in findings) + f"; {detail}",
                           took, findings)
    return CheckResult(NAME, Verdict.PASS, detail, took)
