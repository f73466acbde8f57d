"""The race bugs planted in target_modules/buggy/ need their interleaving, and their
correct twins survive it.

Each of these buggy modules has a hand-written repro whose last line is a `together`
group with a schedule. Here:

- the group's operations run one after the other, in both orders, find nothing:
  the bug is reachable only through an interleaving;
- the twin (the same driver done right, in target_modules/) runs the same program:
  the same operations under the same schedule, the default order, the tasks the
  other way round, and every single preemption `tI at CALL#N -> tJ` at the calls
  the tasks make (N up to 3), in both task orders: nothing, data races included.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from planted import PLANTED

from kfuzz.prog import Outcome, parse_program, run_program

TM = Path(__file__).resolve().parent.parent / "target_modules"
BUGGY = TM / "buggy"

# buggy module -> its correct twin, and what else differs (the device ids)
RACES = {
    "discrel": ("usbskel", {"1d50:6001": "1d50:6002"}),
    "discwrite": ("usbmeter", {"1d50:6003": "1d50:6004"}),
    "discread": ("usbtherm", {"1d50:6005": "1d50:6006"}),
    "bufresize": ("scratchpad", {}),
    "selfpin": ("ticketpr", {}),
    "deltimer": ("pollcard", {"1b36:0110": "1b36:0111"}),
    "waitlock": ("msgq", {}),
    "iowardisc": ("iowarrior", {}),
    "yurexdisc": ("yurex", {}),
}

MAX_NTH = 3


class Repro:
    """A buggy module's repro, split: the lines before its group, the group's task
    operations, and its schedule."""

    def __init__(self, name: str):
        lines = (BUGGY / f"{name}.kfz").read_text().splitlines()
        at = lines.index("together")
        self.setup = lines[:at]
        rest = lines[at + 1:]
        self.tasks = [re.sub(r"^\s+t\d+:\s*", "", line) for line in rest if re.match(r"^\s+t\d+:", line)]
        schedule = [line for line in rest if line.startswith("schedule:")]
        self.schedule = schedule[0].split(":", 1)[1].strip() if schedule else ""
        assert len(self.tasks) >= 2 and self.schedule, f"{name}.kfz: a group with a schedule"

    def serial(self, tasks: list[str]) -> str:
        return "\n".join([*self.setup, *tasks]) + "\n"

    def group(self, tasks: list[str], schedule: str = "") -> str:
        lines = ["together", *(f"  t{n}: {op}" for n, op in enumerate(tasks, 1))]
        if schedule:
            lines.append(f"schedule: {schedule}")
        return "\n".join([*self.setup, *lines]) + "\n"


def run(text: str, base: Path) -> Outcome:
    return run_program(parse_program(text, base_dir=base))


def twin_text(name: str, text: str) -> str:
    twin, ids = RACES[name]
    text = text.replace(name, twin)
    for old, new in ids.items():
        text = text.replace(old, new)
    return text


def finding(outcome: Outcome) -> str:
    f = outcome.finding
    return "" if f is None else f"{f.kind}: {f.title}\n" + "\n".join(outcome.dmesg[-40:])


def group_result(outcome: Outcome):  # noqa: ANN201 - an OpResult
    return next(r for r in outcome.results if r.op.startswith("together"))


def test_every_race_module_is_planted() -> None:
    assert set(RACES) <= set(PLANTED)
    for name, (twin, _) in RACES.items():
        assert (BUGGY / f"{name}.py").is_file() and (TM / f"{twin}.py").is_file()


@pytest.mark.parametrize("name", sorted(RACES))
def test_the_repro_finds_the_bug_under_its_schedule(name: str) -> None:
    repro = Repro(name)
    outcome = run(repro.group(repro.tasks, repro.schedule), BUGGY)
    assert outcome.finding is not None
    assert (outcome.finding.kind, outcome.finding.title) == PLANTED[name], finding(outcome)


@pytest.mark.parametrize("name", sorted(RACES))
def test_every_serial_order_of_the_group_is_clean(name: str) -> None:
    repro = Repro(name)
    for tasks in (repro.tasks, repro.tasks[::-1]):
        outcome = run(repro.serial(tasks), BUGGY)
        assert outcome.finding is None, f"{tasks}: {finding(outcome)}"


def single_preemptions(outcome: Outcome) -> list[str]:
    """`tI at CALL#N -> tJ` for each call a task made where another could have run,
    N from 1 to MAX_NTH."""
    seen: list[tuple[str, str, str]] = []
    for point in group_result(outcome).reached:
        m = re.fullmatch(r"(t\d+) at (\w+)(?:#\d+)? -> (t\d+)", point)
        assert m, point
        if m.groups() not in seen:
            seen.append(m.groups())
    return [f"{t} at {call}{'' if n == 1 else f'#{n}'} -> {to}"
            for t, call, to in seen for n in range(1, MAX_NTH + 1)]


@pytest.mark.parametrize("name", sorted(RACES))
def test_the_twin_survives_its_siblings_race(name: str) -> None:
    repro = Repro(name)
    # the repro itself: the same operations under the same schedule
    outcome = run(twin_text(name, repro.group(repro.tasks, repro.schedule)), TM)
    assert outcome.finding is None, finding(outcome)
    tried = 1
    for tasks in (repro.tasks, repro.tasks[::-1]):
        default = run(twin_text(name, repro.group(tasks)), TM)
        assert default.finding is None, f"{tasks}: {finding(default)}"
        points = single_preemptions(default)
        assert points, f"{tasks}: no task could be preempted"
        for schedule in points:
            outcome = run(twin_text(name, repro.group(tasks, schedule)), TM)
            assert outcome.finding is None, f"{tasks}, {schedule}: {finding(outcome)}"
            tried += 1
    assert tried >= 6
