"""KCSAN: plain accesses to one field from two tasks, one a write, unordered.

Linux's KCSAN (kernel/kcsan/) samples accesses with watchpoints and sees a race
when two CPUs touch the same memory at once. kfuzz runs tasks one at a time, so it
looks for the same thing by happens-before instead, as ThreadSanitizer does: two
accesses to the same field of a kmalloc'd buffer, from two tasks of a concurrent
group, at least one a write, race when nothing orders them. Order comes from vector
clocks carried by what synchronises in Linux: unlock to lock (spinlocks, mutexes,
the kernel's own device_lock and misc_mtx), wake-up to the woken wait, complete to
the wait for completion, up to down, queueing work or arming a timer to its run,
and the start and end of the group (everything before a group happens before its
tasks, which all happen before what follows it).

Marked accesses are intended races, as Linux annotates them: `READ_ONCE(buf,
"field")`, `WRITE_ONCE(buf, "field", value)` and `data_race(lambda: ...)` are
neither checked nor recorded. The title is KCSAN's, "KCSAN: data-race in A / B",
with the two functions in lexicographic order as kernel/kcsan/report.c sorts them,
so one race keeps one title whichever task ran first. Only tasks of a group are
watched (a serial program orders everything), and the kernel setting `kcsan=0`
turns the detector off.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from . import titles
from .current import current
from .frames import Site, guilty_site, module_stack
from .module import Module

if TYPE_CHECKING:
    from .core import Kernel
    from .sched import Thread

T = TypeVar("T")
GENERATIONS = itertools.count(1)
WORD = 8  # bytes of a buffer watched as one location
Clock = dict[int, int]


class Access:
    """One task's last read or write of a field: when (its own clock) and where. The
    stack is kept raw (module, code, line) and made into sites only for a report: every
    field access of a group records one."""

    __slots__ = ("thread", "epoch", "write", "raw")

    def __init__(self, thread: Thread, epoch: int, write: bool, raw: list[tuple[str, CodeType, int]]):
        self.thread, self.epoch, self.write, self.raw = thread, epoch, write, raw

    @property
    def stack(self) -> list[Site]:
        return [Site(m, c.co_name if c.co_name != "<module>" else f"{m}_module_body", c.co_filename, n)
                for m, c, n in self.raw]


def raw_stack(frame: FrameType | None) -> list[tuple[str, CodeType, int]]:
    """The module frames from `frame` outwards, as (module name, code, line)."""
    out = []
    while frame is not None:
        mod = frame.f_globals.get("THIS_MODULE")
        if isinstance(mod, Module):
            out.append((mod.name, frame.f_code, frame.f_lineno))
        frame = frame.f_back
    return out


def join(into: Clock, other: Clock) -> None:
    for k, v in other.items():
        if into.get(k, 0) < v:
            into[k] = v


class Kcsan:
    """The shadow of one group's field accesses, and the clocks of what synchronises."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.shadow: dict[tuple[int, str], dict[tuple[int, bool], Access]] = {}
        self.marked = 0  # inside data_race(): accesses are neither checked nor recorded
        self.reported = False
        self.keep: list[object] = []  # buffers seen: their ids stay theirs for the group
        self.generation = next(GENERATIONS)  # sync objects' clocks are this group's or stale

    # -- accesses ------------------------------------------------------------------
    def access(self, buf: object, field: str, write: bool) -> None:
        th = self.kernel.sched.running
        if th is None or self.marked or self.reported:
            return
        self._check(th, buf, field, write, raw_stack(sys._getframe(1)))

    def access_bytes(self, buf: object, start: int, stop: int, write: bool) -> None:
        """Bytes start..stop of a buffer, watched a word (8 bytes) at a time as KCSAN's
        watchpoints are: two tasks touching different words of one buffer (two slots of
        a ring) do not race."""
        th = self.kernel.sched.running
        if th is None or self.marked or self.reported or stop <= start:
            return
        raw = raw_stack(sys._getframe(1))
        for word in range(start // WORD, max(stop + WORD - 1, start + WORD) // WORD):
            if self._check(th, buf, f"bytes {word * WORD}..{word * WORD + WORD - 1}", write, raw):
                return

    def _check(self, th: Thread, buf: object, field: str, write: bool,
               raw: list[tuple[str, CodeType, int]]) -> bool:
        """Records the access; True when it races with an earlier one (reported)."""
        key = (id(buf), field)
        seen = self.shadow.get(key)
        if seen is None:
            seen = self.shadow[key] = {}
            self.keep.append(buf)
        clock = th.vc
        for (num, was_write), prev in seen.items():
            if num == th.num or not (write or was_write):
                continue
            if prev.epoch > clock.get(num, 0):  # not ordered before this access
                self._report(field, prev, write, th)
                return True
        seen[(th.num, write)] = Access(th, clock[th.num], write, raw)
        return False

    def _report(self, field: str, prev: Access, write: bool, th: Thread) -> None:
        self.reported = True
        now = module_stack()
        here, there = guilty_site(now), guilty_site(prev.stack)
        a, b = sorted([here.function if here else "?", there.function if there else "?"])
        kernel = self.kernel
        lines = ["BUG: KCSAN: data-race in " + f"{a} / {b}", ""]
        for label, stack, task in ((f"{'write' if prev.write else 'read'} to field '{field}'",
                                    prev.stack, prev.thread.task),
                                   (f"{'write' if write else 'read'} to field '{field}'", now, th.task)):
            lines.append(f"{label} of a kmalloc'd buffer by task {task.pid} ({task.comm}):")
            lines += [f"  {s.format().strip()}" for s in stack]
            lines.append("")
        kernel.report(titles.DATA_RACE, "\n".join(lines).rstrip(), site=here, stack=now,
                      fatal=False, a=a, b=b)

    # -- happens-before ----------------------------------------------------------------
    def _clock(self, obj: Any) -> Clock | None:
        """The clock `obj` carries in this group (one of an earlier group is stale: its
        tasks' numbers mean other tasks now)."""
        held = getattr(obj, "_kcsan_vc", None)
        if held is None or held[0] != self.generation:
            return None
        clock: Clock = held[1]
        return clock

    def release(self, obj: Any) -> None:
        """What this task did so far happens before whoever acquires `obj` next."""
        th = self.kernel.sched.running
        if th is None:
            return
        vc = self._clock(obj)
        if vc is None:
            vc = {}
            try:
                obj._kcsan_vc = (self.generation, vc)
            except AttributeError:
                return
        join(vc, th.vc)
        th.vc[th.num] += 1

    def acquire(self, obj: Any) -> None:
        th = self.kernel.sched.running
        vc = self._clock(obj)
        if th is not None and vc:
            join(th.vc, vc)


def READ_ONCE(buf: Any, field: str) -> Any:  # noqa: N802 - Linux's name
    """A marked read of `buf.field`: an intended race, never reported."""
    return _marked(lambda: getattr(buf, field))


def WRITE_ONCE(buf: Any, field: str, value: Any) -> None:  # noqa: N802 - Linux's name
    """A marked write of `buf.field`: an intended race, never reported."""
    _marked(lambda: setattr(buf, field, value))


def data_race(fn: Callable[[], T]) -> T:
    """`data_race(expr)` as a callable: its accesses are intended races."""
    return _marked(fn)


def _marked(fn: Callable[[], T]) -> T:
    kcsan = current().kcsan
    if kcsan is None:
        return fn()
    kcsan.marked += 1
    try:
        return fn()
    finally:
        kcsan.marked -= 1
