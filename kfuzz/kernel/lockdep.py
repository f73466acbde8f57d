"""lockdep: lock classes, their usage states and the dependency graph (kernel/locking/lockdep.c).

A lock class is a place where locks are initialised (a `lock_class_key`) in one load
of a module, and a subclass of it (`spin_lock_nested`). Every acquisition checks, as
Linux's `__lock_acquire` does: the usage states the class gets (used in hard-IRQ or
softirq context, taken with hard IRQs or softirqs on) against those it had
("inconsistent lock state") and against the classes before and after it in the graph
("irq lock inversion"); a class already held ("possible recursive locking"); and the
new dependencies from the held lock: a cycle ("circular locking dependency"), or an
IRQ-safe lock taken before an IRQ-unsafe one. Classes die with their module
(`lockdep_free_key_range`).

Anything with a `LockdepMap` can be acquired and released: a spinlock or a mutex, and
pseudo-locks such as a timer's or a work's map, held while its callback runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import lockdep_report as report
from . import titles
from .current import Task
from .frames import Site, caller_site
from .lockkey import ClassKey, ClassKeys

if TYPE_CHECKING:
    from .core import Kernel

MAX_SUBCLASSES = 8  # MAX_LOCKDEP_SUBCLASSES

# usage bits numbered as Linux's enum lock_usage_bit (write locks only): state * 4 + dir
HARDIRQ, SOFTIRQ = 0, 1
STATES = {HARDIRQ: "HARDIRQ", SOFTIRQ: "SOFTIRQ"}
USED_IN_HARDIRQ, ENABLED_HARDIRQ, USED_IN_SOFTIRQ, ENABLED_SOFTIRQ = 0, 2, 4, 6  # report.USAGE_STR
MARK_ORDER = (USED_IN_HARDIRQ, USED_IN_SOFTIRQ, ENABLED_HARDIRQ, ENABLED_SOFTIRQ)  # mark_usage's
SAFE_UNSAFE = {HARDIRQ: titles.HARDIRQ_SAFE_UNSAFE, SOFTIRQ: titles.SOFTIRQ_SAFE_UNSAFE}

# wait types as lockdep prints them, {inner:outer}: LD_WAIT_CONFIG, LD_WAIT_SLEEP
WAIT_SPIN, WAIT_SLEEP, WAIT_NONE = 3, 4, 0


class LockClass:
    """`struct lock_class`: a key and subclass, its usage and its place in the graph."""

    __slots__ = ("key", "subclass", "wait", "usage", "traces", "after", "before")

    def __init__(self, key: ClassKey, subclass: int, wait: int):
        self.key = key
        self.subclass = subclass
        self.wait = wait
        self.usage = 0  # a bit per usage state, 1 << USED_IN_HARDIRQ...
        self.traces: dict[int, list[Site]] = {}  # where each usage was first seen
        self.after: dict[LockClass, list[Site]] = {}  # this -> next, and where it was first seen
        self.before: dict[LockClass, list[Site]] = {}

    @property
    def name(self) -> str:
        """__print_lock_name: the key's name, #version, /subclass."""
        name = self.key.name
        if self.key.version > 1:
            name += f"#{self.key.version}"
        return f"{name}/{self.subclass}" if self.subclass else name

    def usage_chars(self) -> str:
        """get_usage_chars: per state, '+' taken with it on, '-' used in it, '?' both."""
        out = ""
        for used_in in (USED_IN_HARDIRQ, USED_IN_SOFTIRQ):
            on, used = self.usage >> (used_in + 2) & 1, self.usage >> used_in & 1
            out += ("?" if used else "+") if on else ("-" if used else ".")
            out += "."  # the read variant: kfuzz has no reader-writer locks
        return out

    def describe(self) -> str:
        """print_lock_name: (name){usage}-{wait:wait}."""
        return f"({self.name}){{{self.usage_chars()}}}-{{{self.wait}:{self.wait}}}"

    def __repr__(self) -> str:
        return f"<lock class {self.name}>"


class LockdepMap:
    """`struct lockdep_map`: what lockdep knows of one lock or pseudo-lock: its key."""

    wait = WAIT_NONE

    def __init__(self, key: ClassKey):
        self.key = key

    @property
    def name(self) -> str:
        return self.key.name


class HeldLock:
    """`struct held_lock`: one acquisition on a task's stack of held locks."""

    __slots__ = ("map", "cls", "site", "irq_context", "hardirqs_off", "trylock")

    def __init__(self, lock: LockdepMap, cls: LockClass, site: Site | None, irq_context: int,
                 hardirqs_off: bool, trylock: bool):
        self.map = lock
        self.cls = cls
        self.site = site
        self.irq_context = irq_context
        self.hardirqs_off = hardirqs_off
        self.trylock = trylock

    def describe(self) -> str:
        """print_lock: the class, and where it was taken."""
        return f"{self.cls.describe()}, at: {report.where(self.site)}"


class Lockdep:
    """The validator of one kernel: its classes and graph, and each task's held locks."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.keys = ClassKeys()

    # -- classes -------------------------------------------------------------------
    def new_key(self, fmt: str = "{}", name: str | None = None) -> ClassKey:
        """The key of the module code on the stack, at the call it is making: one per call
        site and module load, named from the source (fmt wraps that name: a timer's map is
        "({})"), or `name` when given."""
        return self.keys.at_caller(fmt, name)

    def free_module(self, module: str) -> None:
        """lockdep_free_key_range at unload: the module's classes and their dependencies go."""
        for key in self.keys.free_module(module):
            self._unlink(key)

    def free_key(self, key: ClassKey) -> None:
        """lockdep_unregister_key: one key's classes and their dependencies go."""
        self.keys.free(key)
        self._unlink(key)

    @staticmethod
    def _unlink(key: ClassKey) -> None:
        for cls in key.classes.values():
            for other in cls.after:
                other.before.pop(cls, None)
            for other in cls.before:
                other.after.pop(cls, None)
            cls.after.clear()
            cls.before.clear()

    def lock_class(self, lock: LockdepMap, subclass: int) -> LockClass:
        cls = lock.key.classes.get(subclass)
        if cls is None:
            if not isinstance(subclass, int) or not 0 <= subclass < MAX_SUBCLASSES:
                self.kernel.report(titles.INVALID_SUBCLASS,
                                   f"BUG: looking up invalid subclass: {subclass}\n"
                                   "turning off the locking correctness validator.")
            cls = lock.key.classes[subclass] = LockClass(lock.key, subclass, lock.wait)
        return cls

    # -- acquire and release -------------------------------------------------------------
    def acquire(self, lock: LockdepMap, subclass: int = 0, trylock: bool = False,
                at: Site | None = None) -> HeldLock:
        """lock_acquire: check the acquisition, then push it on the task's held locks.
        It is taken at `at`, or at the innermost module function on the stack."""
        if not isinstance(lock, LockdepMap):
            raise TypeError(f"not a lock: {lock!r}")
        return self._acquire(lock, self.kernel.task, subclass, trylock, at)

    def _acquire(self, lock: LockdepMap, task: Task, subclass: int, trylock: bool,
                 at: Site | None = None) -> HeldLock:
        cls = lock.key.classes.get(subclass) or self.lock_class(lock, subclass)
        hardirq, softirq, irqs_on = task.hardirq, task.softirq, task.hardirqs_enabled
        held = HeldLock(lock, cls, at or caller_site(), 2 if hardirq else softirq & 1, not irqs_on, trylock)
        # mark_usage: used in hard-IRQ or softirq context; taken with hard IRQs (softirqs) on
        bits = 0
        if not trylock:
            if hardirq:
                bits |= 1 << USED_IN_HARDIRQ
            if softirq & 1:
                bits |= 1 << USED_IN_SOFTIRQ
        if irqs_on:
            bits |= 1 << ENABLED_HARDIRQ
            if not softirq:
                bits |= 1 << ENABLED_SOFTIRQ
        if bits & ~cls.usage:
            for bit in MARK_ORDER:
                if bits & ~cls.usage & (1 << bit):
                    self.mark(task, held, bit)
        stack = task.held
        if stack and not trylock:  # validate_chain
            for other in stack:
                if other.cls is cls:
                    self.kernel.report(titles.RECURSIVE_LOCKING, report.recursive(task, other, held))
            top = stack[-1]
            if top.irq_context == held.irq_context and (top.trylock or cls not in top.cls.after):
                self._add_dependencies(task, held)
        stack.append(held)
        return held

    def release(self, lock: LockdepMap) -> HeldLock | None:
        """lock_release: the lock leaves the task's held locks; one not held is a bug."""
        task = self.kernel.task
        stack = task.held
        for i in range(len(stack) - 1, -1, -1):
            if stack[i].map is lock:
                return stack.pop(i)
        self.kernel.report(titles.BAD_UNLOCK, report.unlock_imbalance(task, lock.name, caller_site()))
        return None

    # -- usage states ------------------------------------------------------------------------
    def mark(self, task: Task, held: HeldLock, bit: int) -> None:
        """mark_lock: the class gets a usage state, which must not clash with what it had."""
        cls = held.cls
        if cls.usage & (1 << bit):
            return
        cls.usage |= 1 << bit
        cls.traces[bit] = [held.site] if held.site else []  # where, not the whole stack: cheaper
        excl = bit ^ 2  # the same state, the other direction
        if cls.usage & (1 << excl):
            self.kernel.report(titles.INCONSISTENT_LOCK_STATE,
                               report.usage_bug(task, held, excl, bit))
        state = STATES[bit >> 2]
        if bit & 2:  # taken with IRQs on: no IRQ-safe class may lead to it
            path = self._search(cls, 1 << excl, forwards=False) if cls.before else None
            if path:
                self.kernel.report(titles.IRQ_LOCK_INVERSION,
                                   report.irq_inversion(task, held, path, state, forwards=False))
        else:  # used in IRQ context: it may lead to no IRQ-unsafe class
            path = self._search(cls, 1 << excl, forwards=True) if cls.after else None
            if path:
                self.kernel.report(titles.IRQ_LOCK_INVERSION,
                                   report.irq_inversion(task, held, path, state, forwards=True))

    def mark_held_locks(self, task: Task, bit: int) -> None:
        """IRQs (softirqs) come on: every held lock is now taken with them on."""
        for held in task.held:
            if not held.cls.usage & (1 << bit):
                self.mark(task, held, bit)

    # -- the graph ---------------------------------------------------------------------------
    def _add_dependencies(self, task: Task, nxt: HeldLock) -> None:
        """check_prevs_add: held -> next, for the nearest held lock in the same context (and
        any trylocks above it): the ones below reach next through it."""
        for prev in reversed(task.held):
            if prev.irq_context != nxt.irq_context:
                break
            if nxt.cls not in prev.cls.after and prev.cls is not nxt.cls:
                self._add_dependency(task, prev, nxt)
            if not prev.trylock:
                break

    def _add_dependency(self, task: Task, prev: HeldLock, nxt: HeldLock) -> None:
        """check_prev_add: no cycle, no IRQ-safe -> IRQ-unsafe, then the edge."""
        cycle = self._path(nxt.cls, lambda c: c is prev.cls, forwards=True)
        if cycle:
            self.kernel.report(titles.CIRCULAR_LOCKING, report.circular(task, prev, nxt, cycle))
        self._check_irq_usage(task, prev, nxt)
        trace = [nxt.site] if nxt.site else []
        prev.cls.after[nxt.cls] = trace
        nxt.cls.before[prev.cls] = trace

    def _check_irq_usage(self, task: Task, prev: HeldLock, nxt: HeldLock) -> None:
        backwards = list(self._closure(prev.cls, forwards=False))
        safe = 0
        for cls in backwards:
            safe |= cls.usage
        if not safe & (1 << USED_IN_HARDIRQ | 1 << USED_IN_SOFTIRQ):
            return
        forwards = list(self._closure(nxt.cls, forwards=True))
        for used_in in (USED_IN_HARDIRQ, USED_IN_SOFTIRQ):
            if not safe & (1 << used_in):
                continue
            unsafe = next((c for c in forwards if c.usage & (1 << (used_in + 2))), None)
            if unsafe is None:
                continue
            safe_cls = next(c for c in backwards if c.usage & (1 << used_in))
            self.kernel.report(
                SAFE_UNSAFE[used_in >> 2],
                report.bad_irq_dependency(task, prev, nxt, safe_cls, unsafe, used_in,
                                          STATES[used_in >> 2], self._chain(safe_cls, prev.cls),
                                          self._chain(nxt.cls, unsafe)))

    @staticmethod
    def _closure(start: LockClass, forwards: bool) -> Iterator[LockClass]:
        """The classes `start` reaches (or that reach it), itself first, breadth first."""
        seen = {start}
        todo = deque([start])
        while todo:
            cls = todo.popleft()
            yield cls
            for other in (cls.after if forwards else cls.before):
                if other not in seen:
                    seen.add(other)
                    todo.append(other)

    @staticmethod
    def _path(start: LockClass, goal: object, forwards: bool) -> list[LockClass] | None:
        """The shortest path from `start` to a class for which goal(class) holds."""
        parent: dict[LockClass, LockClass | None] = {start: None}
        todo = deque([start])
        while todo:
            cls = todo.popleft()
            if goal(cls):  # type: ignore[operator]
                path: list[LockClass] = []
                at: LockClass | None = cls
                while at is not None:
                    path.append(at)
                    at = parent[at]
                return path[::-1]
            for other in (cls.after if forwards else cls.before):
                if other not in parent:
                    parent[other] = cls
                    todo.append(other)
        return None

    def _search(self, cls: LockClass, mask: int, forwards: bool) -> list[LockClass] | None:
        """A path from cls to another class with a usage of `mask`."""
        return self._path(cls, lambda c: c is not cls and c.usage & mask, forwards)

    def _chain(self, first: LockClass, last: LockClass) -> list[LockClass]:
        return self._path(first, lambda c: c is last, forwards=True) or [first, last]
