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

from ..kernel.sched import GROUP_TASKS, Drawn
from ..prog import Op, OpSpec, Props
from ..prog.values import Data
from .choices import Bytes, Choices, Draw, OneOf, Pick

GROUP_AFTER = 2  # operations before a group is drawn: something to open, plug or load first
# what races: file operations against teardown, callbacks against both
# in the order drawn: the first of a kind is what a draw of 0, which Hypothesis favours, gives
GROUP_VERBS = ("write", "read", "ioctl", "poll", "open", "urb", "irq", "tick", "bind",
               "unplug", "close", "unbind", "rmmod")
TEARDOWN = ("close", "unplug", "unbind", "rmmod")  # what a race's other side most often is
MAX_PREEMPTIONS = 3  # PCT's depth d, at most 3
MAX_POINT = 12  # a preemption falls within the first scheduling points of its task

PREEMPTIONS = Pick([1, 1, 2, 2, 0, 3])
# a task's k-th scheduling point, the 2nd first (what Hypothesis draws most and shrinks to):
# preempting the first task at its 1st point only runs the other first, as the drawn order may
POINTS = Pick([*range(2, MAX_POINT + 1), 1])
# what another thread writes over a buffer: lengths and counts a driver checked, made huge
POKES: Draw[bytes] = OneOf(Pick([b"\xff\xff\xff\xff", b"\x00\x10\x00\x00", b"\xff", b"\x00\x00\x00\x80"]),
                          Bytes(1, 8))


def draw_tasks(data: Choices, specs: list[OpSpec]) -> list[OpSpec | None]:
    """2 or 3 of the operations SPECS (those the case can run now); None is user space
    acting on another task of the group (user_op: a signal, or a write over the buffer its
    system call passed). One is mostly I/O, a release or a callback, the others mostly
    what races with it: teardown (close, unplug, unbind, rmmod) or user space; either
    of the first two may start first."""
    n = data.integer(2, GROUP_TASKS)
    work = [s for s in specs if s.verb not in TEARDOWN or s.verb == "close"] or specs
    down = [s for s in specs if s.verb in TEARDOWN] or specs
    # drawn by index: a strategy sampling OpSpecs would be labelled by their repr, which
    # holds the handlers' addresses, and Hypothesis's search would depend on them
    first = data.pick(specs if data.index(4) == 3 else work)
    others: list[OpSpec | None] = []
    for _ in range(n - 1):  # a teardown, user space, or any operation, a third each
        which = data.index(3)
        others.append(None if which == 1 else data.pick(down if which == 0 else specs))
    tasks = [first, *others]
    # which starts first, the I/O or what races it (PCT's priorities are the task order)
    if tasks[1] is not None and data.boolean():
        tasks[0], tasks[1] = tasks[1], tasks[0]
    return tasks


def user_op(data: Choices, me: int, n: int) -> Op:
    """`kill tN`, or `poke tN DATA`: a double fetch trusts what it read first."""
    others = [t for t in range(1, n + 1) if t != me]
    target = f"t{data.pick(others)}"
    if data.boolean():
        return Op("poke", (target, Data(data.draw(POKES, label="poke data"))), props=Props())
    return Op("kill", (target,), props=Props())


def draw_preemptions(data: Choices, n: int) -> tuple[Drawn, ...]:
    count = PREEMPTIONS(data)
    out = []
    for _ in range(count):
        task = data.integer(1, n)
        point = POINTS(data)
        to = data.pick([t for t in range(1, n + 1) if t != task])
        out.append(Drawn(task, point, to))
    return tuple(out)
