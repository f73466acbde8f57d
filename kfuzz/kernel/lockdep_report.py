"""What lockdep prints, as kernel/locking/lockdep.c words it (Linux 6.12).

Each function returns the body of one report: the kernel's log adds the banner,
the taint line and the call trace. Addresses are left out; a place in module code
is its function, file and line, as syzbot prints `foo+0x1c/0x80 drivers/foo.c:12`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .frames import Site

if TYPE_CHECKING:
    from .current import Task
    from .lockdep import HeldLock, LockClass


# lockdep's usage bits (enum lock_usage_bit, write locks only): state * 4 + direction
USAGE_STR = {0: "IN-HARDIRQ-W", 2: "HARDIRQ-ON-W", 4: "IN-SOFTIRQ-W", 6: "SOFTIRQ-ON-W"}


def where(site: Site | None) -> str:
    if site is None:
        return "?"
    if site.filename == "<kernel>":
        return site.function
    return f"{site.function} {os.path.basename(site.filename)}:{site.lineno}"


def trace(sites: list[Site] | None) -> list[str]:
    """print_lock_trace: innermost call first."""
    return [f"  {where(s)}" for s in sites or []] or ["  (no module code on the stack)"]


def held_locks(task: Task) -> list[str]:
    """lockdep_print_held_locks."""
    if not task.held:
        return [f"no locks held by {task}."]
    n = len(task.held)
    return [f"{n} lock{'s' if n > 1 else ''} held by {task}:"] + [
        f" #{i}: {h.describe()}" for i, h in enumerate(task.held)]


def _header(banner: str, *lines: str) -> list[str]:
    return [banner, "-" * len(banner), *lines]


def recursive(task: Task, prev: HeldLock, nxt: HeldLock) -> str:
    """print_deadlock_bug."""
    return "\n".join(_header(
        "WARNING: possible recursive locking detected",
        f"{task} is trying to acquire lock:", nxt.describe(), "",
        "but task is already holding lock:", prev.describe(), "",
        "other info that might help us debug this:",
        " Possible unsafe locking scenario:", "",
        "       CPU0", "       ----",
        f"  lock({prev.cls.name});", f"  lock({nxt.cls.name});", "",
        " *** DEADLOCK ***", "",
        " May be due to missing lock nesting notation", "",
        *held_locks(task)))


def unlock_imbalance(task: Task, name: str, site: Site | None) -> str:
    """print_unlock_imbalance_bug."""
    return "\n".join(_header(
        "WARNING: bad unlock balance detected!",
        f"{task} is trying to release lock ({name}) at:", where(site),
        "but there are no more locks to release!", "",
        "other info that might help us debug this:", *held_locks(task)))


def usage_bug(task: Task, held: HeldLock, prev_bit: int, new_bit: int) -> str:
    """print_usage_bug: the class got a usage that clashes with one it had."""
    name, names = held.cls.name, USAGE_STR
    return "\n".join(_header(
        "WARNING: inconsistent lock state",
        f"inconsistent {{{names[prev_bit]}}} -> {{{names[new_bit]}}} usage.",
        f"{task} {task.state()} takes:", held.describe(),
        f"{{{names[prev_bit]}}} state was registered at:", *trace(held.cls.traces.get(prev_bit)), "",
        "other info that might help us debug this:",
        " Possible unsafe locking scenario:", "",
        "       CPU0", "       ----",
        f"  lock({name});", "  <Interrupt>", f"    lock({name});", "",
        " *** DEADLOCK ***", "",
        *held_locks(task)))


def _irq_scenario(safe: LockClass, unsafe: LockClass, prev: LockClass, nxt: LockClass) -> list[str]:
    """print_irq_lock_scenario."""
    middle = nxt if prev is safe else prev
    out = []
    if middle is not unsafe:
        out += ["Chain exists of:", f"  {safe.name} --> {middle.name} --> {unsafe.name}", ""]
    pad = " " * 31
    return out + [
        " Possible interrupt unsafe locking scenario:", "",
        "       CPU0                    CPU1", "       ----                    ----",
        f"  lock({unsafe.name});", f"{pad}local_irq_disable();", f"{pad}lock({safe.name});",
        f"{pad}lock({middle.name});", "  <Interrupt>", f"    lock({safe.name});", "",
        " *** DEADLOCK ***", ""]


def _chain(path: list[LockClass]) -> list[str]:
    """print_shortest_lock_dependencies: each class with where it got each usage state,
    and where it was taken after the one before it."""
    out = []
    for i, cls in enumerate(path):
        out.append(f"{'->' if i else ''} {cls.describe()} {{")
        for bit, name in USAGE_STR.items():
            if bit in cls.traces:
                out += [f"   {name} at:", *(f"  {line}" for line in trace(cls.traces[bit]))]
        if i:
            out += ["   ... acquired at:", *(f"  {line}" for line in trace(path[i - 1].after.get(cls)))]
        out.append(" }")
    return out


def irq_inversion(task: Task, held: HeldLock, path: list[LockClass], state: str, forwards: bool) -> str:
    """print_irq_inversion_bug: a class became IRQ-safe (unsafe) while one after (before)
    it in the graph is IRQ-unsafe (safe)."""
    other = path[-1]
    said = (f"but this lock took another, {state}-unsafe lock in the past:" if forwards
            else f"but this lock was taken by another, {state}-safe lock in the past:")
    safe, unsafe = (held.cls, other) if forwards else (other, held.cls)
    scenario = _irq_scenario(safe, unsafe, path[1], unsafe)  # path[1]: Linux's middle lock
    return "\n".join(_header(
        "WARNING: possible irq lock inversion dependency detected",
        f"{task} just changed the state of lock:", held.describe(),
        said, f" {other.describe()}", "",
        "and interrupts could create inverse lock ordering between them.", "",
        "other info that might help us debug this:", *scenario,
        *held_locks(task), "",
        "the shortest dependencies between 2nd lock and 1st lock:",
        *_chain(path if forwards else path[::-1])))


def circular(task: Task, prev: HeldLock, nxt: HeldLock, cycle: list[LockClass]) -> str:
    """print_circular_bug: taking nxt while holding prev, where nxt already leads to prev
    (`cycle` is that path, nxt first)."""
    lines = _header(
        "WARNING: possible circular locking dependency detected",
        f"{task} is trying to acquire lock:", nxt.describe(), "",
        "but task is already holding lock:", prev.describe(), "",
        "which lock already depends on the new lock.", "",
        "the existing dependency chain (in reverse order) is:")
    for depth in range(len(cycle) - 1, 0, -1):
        lines += ["", f"-> #{depth} {cycle[depth].describe()}:",
                  *trace(cycle[depth - 1].after.get(cycle[depth]))]
    lines += ["", f"-> #0 {cycle[0].describe()}:", *trace([nxt.site] if nxt.site else None)]
    source, target = nxt.cls, prev.cls
    parent = cycle[-2] if len(cycle) > 1 else source
    lines += ["", "other info that might help us debug this:", ""]
    if parent is not source:
        lines += ["Chain exists of:", f"  {source.name} --> {parent.name} --> {target.name}", ""]
    pad = " " * 31
    lines += [" Possible unsafe locking scenario:", "",
              "       CPU0                    CPU1", "       ----                    ----",
              f"  lock({target.name});", f"{pad}lock({parent.name});", f"{pad}lock({target.name});",
              f"  lock({source.name});", "", " *** DEADLOCK ***", "", *held_locks(task)]
    return "\n".join(lines)


def bad_irq_dependency(task: Task, prev: HeldLock, nxt: HeldLock, safe: LockClass, unsafe: LockClass,
                       used_in: int, state: str, back: list[LockClass], fwd: list[LockClass]) -> str:
    """print_bad_irq_dependency: prev -> nxt would lead an IRQ-safe class to an IRQ-unsafe one."""
    return "\n".join(_header(
        f"WARNING: {state}-safe -> {state}-unsafe lock order detected",
        f"{task} {task.state()} is trying to acquire:", nxt.describe(), "",
        "and this task is already holding:", prev.describe(),
        "which would create a new lock dependency:",
        f" {prev.cls.describe()} -> {nxt.cls.describe()}", "",
        f"but this new dependency connects a {state}-irq-safe lock:", f" {safe.describe()}", "",
        f"... which became {state}-irq-safe at:", *trace(safe.traces.get(used_in)), "",
        f"to a {state}-irq-unsafe lock:", f" {unsafe.describe()}", "",
        f"... which became {state}-irq-unsafe at:", "...", *trace(unsafe.traces.get(used_in + 2)), "",
        "other info that might help us debug this:", "",
        *_irq_scenario(safe, unsafe, prev.cls, nxt.cls),
        *held_locks(task), "",
        f"the dependencies between {state}-irq-safe lock and the holding lock:", *_chain(back), "",
        f"the dependencies between the lock to be acquired and {state}-irq-unsafe lock:",
        *_chain(fwd)))


def held_when(task: Task, header: list[str]) -> str:
    """A task that must hold no lock holds some: lockdep_sys_exit, process_one_work."""
    return "\n".join([*header, *held_locks(task)])
