"""Drawing concurrent groups: which operations race, and the preemptions they race under.

A group is 2 or 3 operations run as tasks of their own (kernel/sched.py). Its
schedule is drawn as preemptions before the calls are known: "at task i's k-th
scheduling point, run task j", at most three, few points in, so that Hypothesis
shrinks a schedule toward fewer and earlier preemptions. The kernel answers with
the preemptions that fired, named by the calls they fired at, and that is what the
program keeps: the repro replays exactly.

This is PCT's idea (Burckhardt et al., ASPLOS 2010) in the form of the schedule
language: PCT's random task priorities are the order of the drawn tasks (the
default order runs the lowest-numbered runnable task), and its d-1 priority change
points are the drawn preemptions, d at most 3. Unlike PCT, a preempted task is
not demoted below every other: when the task that preempted it blocks, the
lowest-numbered runnable task runs, as the schedule language says.
"""

from __future__ import annotations

from hypothesis import strategies as st

from ..kernel.sched import GROUP_TASKS, Drawn
from ..prog import Op, OpSpec, Props
from ..prog.values import Data

GROUP_AFTER = 2  # operations before a group is drawn: something to open, plug or load first
# what races: file operations against teardown, callbacks against both
GROUP_VERBS = ("open", "read", "write", "ioctl", "close", "unplug", "unbind", "bind", "rmmod",
               "irq", "tick", "poll", "urb")
MAX_PREEMPTIONS = 3  # PCT's depth d, at most 3
MAX_POINT = 12  # a preemption falls within the first scheduling points of its task

PREEMPTIONS = st.sampled_from([1, 1, 2, 2, 0, 3])
# what another thread writes over a buffer: lengths and counts a driver checked, made huge
POKES = st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x10\x00\x00", b"\xff", b"\x00\x00\x00\x80"]) | \
    st.binary(min_size=1, max_size=8)


def draw_tasks(data: st.DataObject, specs: list[OpSpec]) -> list[OpSpec | None]:
    """2 or 3 operations; None is user space acting on another task of the group
    (user_op: a signal, or a write over the buffer its system call passed)."""
    n = data.draw(st.integers(2, GROUP_TASKS), label="tasks")
    first = specs[data.draw(st.integers(0, len(specs) - 1), label="task")]
    # drawn by index: a strategy sampling OpSpecs would be labelled by their repr, which
    # holds the handlers' addresses, and Hypothesis's search would depend on them
    others: list[OpSpec | None] = []
    for _ in range(n - 1):  # half an operation, half user space (a signal, a write over a buffer)
        if data.draw(st.booleans(), label="user space"):
            others.append(None)
        else:
            others.append(specs[data.draw(st.integers(0, len(specs) - 1), label="task")])
    return [first, *others]


def user_op(data: st.DataObject, me: int, n: int) -> Op:
    """`kill tN`, or `poke tN DATA`: a double fetch trusts what it read first."""
    others = [t for t in range(1, n + 1) if t != me]
    target = f"t{data.draw(st.sampled_from(others), label='target')}"
    if data.draw(st.booleans(), label="poke"):
        return Op("poke", (target, Data(data.draw(POKES, label="poke data"))), props=Props())
    return Op("kill", (target,), props=Props())


def draw_preemptions(data: st.DataObject, n: int) -> tuple[Drawn, ...]:
    count = data.draw(PREEMPTIONS, label="preemptions")
    out = []
    for _ in range(count):
        task = data.draw(st.integers(1, n), label="preempted")
        point = data.draw(st.integers(1, MAX_POINT), label="point")
        to = data.draw(st.sampled_from([t for t in range(1, n + 1) if t != task]), label="to")
        out.append(Drawn(task, point, to))
    return tuple(out)
