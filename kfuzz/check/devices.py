"""Plug and unplug, bind and unbind cycles for each id of the device table, with I/O
on the nodes the driver creates between them."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..prog.outcome import failed
from .probe import Prober
from .result import CheckFinding, CheckResult, Verdict
from .surface import Surface, nodes_after

Learn = Callable[[list[str]], list[str]]

NAME = "plug/unplug and bind/unbind cycles"
TICK = 10  # jiffies: timers the driver armed fire, queued work runs


def io_lines(fd: str, ioctls: list[int]) -> list[str]:
    return [f"read {fd} 16", f'write {fd} "kfuzz"', f"ioctl {fd} {ioctls[0]:#x} 0"]


def cycle_lines(surface: Surface, bus: str, dev_id: str, learn: Learn) -> list[str]:
    """Plug, I/O, an interrupt, a rebind, I/O again, unplug; then plug again and unplug
    with the nodes open (a surprise removal), and I/O on the open files after it.

    The device's nodes are learnt again after every plug and bind, as the fuzzer learns
    them from each reply: a driver may name its node from a counter that is never
    reused (/dev/x0, then /dev/x1 after a rebind). `learn(lines)` gives the nodes the
    device has after the plugs, binds and unbinds of `lines` (I/O is assumed not to
    rename them)."""
    load = f"modprobe {surface.target}"
    plug = f"plug {bus} {dev_id} -> dev0"
    irq = ["irq dev0", f"tick {TICK}"]
    steps = [load, plug]

    def files() -> tuple[list[str], list[str], list[str]]:
        paths = learn(steps)
        fds = [f"fd{i}" for i in range(len(paths))]
        opened = [f"open {path} -> {fd}" for path, fd in zip(paths, fds, strict=True)]
        io = [line for fd in fds for line in io_lines(fd, surface.ioctls)]
        return opened, io, [f"close {fd}" for fd in fds]

    opened, io, closed = files()
    lines = [load, plug, *opened, *io, *closed, *irq, "unbind dev0", "bind dev0"]
    steps += ["unbind dev0", "bind dev0"]
    opened, io, closed = files()
    lines += [*opened, *io, *closed, *irq, "unplug dev0", plug]
    steps += ["unplug dev0", plug]
    opened, io, closed = files()
    return [*lines, *opened, "unplug dev0", *io, *closed, f"rmmod {surface.target}"]


# lines whose failure is the driver's, not an I/O answer (a close's error is its flush's,
# an I/O answer: fs/open.c closes the descriptor all the same)
MUST_SUCCEED = ("modprobe", "plug", "unbind", "bind", "unplug", "rmmod", "open")


def device_cycles(prober: Prober, surface: Surface) -> CheckResult:
    start = time.monotonic()
    if not surface.ids:
        return CheckResult(NAME, Verdict.SKIP, "no device table", 0.0)
    findings: list[CheckFinding] = []
    bad: list[str] = []
    loaded = nodes_after(prober.executor, prober.settings, [f"modprobe {surface.target}"])

    def learn(lines: list[str]) -> list[str]:
        return sorted(nodes_after(prober.executor, prober.settings, lines) - loaded)

    for bus, dev_id in surface.ids:
        lines = cycle_lines(surface, bus, dev_id, learn)
        outcome = prober.run(lines)
        if outcome.finding is not None:
            findings.append(prober.report(outcome, lines))
            continue
        bad += [f"{bus} {dev_id}: {r.op} gave {r.result}" for r in outcome.results
                if r.op.split()[0] in MUST_SUCCEED and failed(r.result)]
    took = time.monotonic() - start
    if findings:
        return CheckResult(NAME, Verdict.FAIL, "; ".join(f.title for f in findings), took, findings)
    if bad:
        return CheckResult(NAME, Verdict.FAIL, bad[0], took)
    return CheckResult(NAME, Verdict.PASS, f"{len(surface.ids)} device id(s): two plugs and a rebind each, "
                       f"I/O on their nodes, an interrupt and a tick, an unplug with the nodes open", took)
