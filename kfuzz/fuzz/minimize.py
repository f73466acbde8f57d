"""The smallest program that still fails the same way: same title, not just 'a bug'.

Everything here works through the operation table: what an operation uses and
binds, how each argument kind is made plainer, which properties it carries. A
concurrent group shrinks to fewer preemptions and fewer tasks, its operations as
any other; its serial forms (its tasks one after another) are tried last, so a
bug that needs no interleaving gets a serial repro.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..kernel.sched import Preempt
from ..prog import Group, Op, Props

Reproduces = Callable[[list[Op]], bool]


def drop(ops: list[Op], i: int) -> list[Op]:
    """Without op i, and without the ops that use a name it binds (and so on)."""
    return replaced(ops, i, None)


def replaced(ops: list[Op], i: int, new: Op | None) -> list[Op]:
    """Op i replaced by `new` (or dropped), and the later ops that use a name it no longer
    binds dropped (and so on): a group less a task that opened a file, say."""
    kept = {name for name, _ in new.binds()} if new is not None else set()
    gone = {name for name, _ in ops[i].binds()} - kept
    out = []
    for j, op in enumerate(ops):
        if j == i:
            if new is not None:
                out.append(new)
            continue
        if j > i and gone.intersection(op.uses()):
            gone.update(name for name, _ in op.binds())
            continue
        out.append(op)
    return out


def renumber(ops: list[Op]) -> list[Op]:
    """dev0, dev1, fd0... in the order the program binds them."""
    names: dict[str, str] = {}
    counts: dict[str, int] = {}

    def rebound(op: Op) -> Op:
        resource = op.spec.binds
        if op.bind and resource:
            n = counts.get(resource, 0)
            names[op.bind] = f"{resource}{n}"
            counts[resource] = n + 1
            op = replace(op, bind=names[op.bind])
        return op

    out: list[Op] = []
    for op in ops:
        op = op.renamed(names)
        if isinstance(op, Group):
            op = replace(op, tasks=tuple(rebound(t) for t in op.tasks))
        else:
            op = rebound(op)
        out.append(op)
    return out


def simpler_args(op: Op) -> list[Op]:
    """Plainer versions of one operation, an argument at a time, plainest first."""
    if isinstance(op, Group):
        return [replace(op, tasks=(*op.tasks[:k], plainer, *op.tasks[k + 1:]))
                for k, task in enumerate(op.tasks) for plainer in simpler_args(task)]
    out = []
    for k, (kind, value) in enumerate(zip(op.spec.args, op.args, strict=True)):
        for plainer in kind.simpler(value):
            out.append(replace(op, args=(*op.args[:k], plainer, *op.args[k + 1:])))
    return out


def plainer_props(op: Op) -> list[Op]:
    """The operation with one property back at its default (a group: of one task)."""
    if isinstance(op, Group):
        return [replace(op, tasks=(*op.tasks[:k], plainer, *op.tasks[k + 1:]))
                for k, task in enumerate(op.tasks) for plainer in plainer_props(task)]
    out = [replace(op, props=op.props.without(name)) for name in Props.names()]
    return [o for o in out if o != op]


def smaller_groups(group: Group) -> list[Op]:
    """Fewer preemptions, then fewer tasks (never fewer than two: one is serial)."""
    out: list[Op] = [replace(group, schedule=group.schedule[:k] + group.schedule[k + 1:])
                     for k in range(len(group.schedule))]
    if len(group.tasks) > 2:
        out += [without_task(group, k + 1) for k in range(len(group.tasks))]
    return out


def without_task(group: Group, n: int) -> Group:
    """The group less task n: the others renumbered, its preemptions, signals and pokes gone."""
    def num(t: int) -> int:
        return t - 1 if t > n else t

    signals_it = f"t{n}"
    kept = [t for k, t in enumerate(group.tasks, 1)
            if k != n and not (t.spec.group_only and t.args[0] == signals_it)]
    tasks = [replace(t, args=(f"t{num(int(str(t.args[0])[1:]))}", *t.args[1:])) if t.spec.group_only else t
             for t in kept]
    schedule = tuple(Preempt(num(p.task), p.call, p.nth, num(p.to)) for p in group.schedule
                     if n not in (p.task, p.to))
    return replace(group, tasks=tuple(tasks), schedule=schedule)


def serial_forms(group: Group) -> list[list[Op]]:
    """Its tasks one after another, in order and in reverse (signals have no one to reach)."""
    ops = [t for t in group.tasks if not t.spec.group_only]
    return [ops, ops[::-1]] if len(ops) > 1 else [ops]


def _first(ops: list[Op], i: int, candidates: list[Op], reproduces: Reproduces) -> bool:
    """Replaces op i by the first candidate that still fails."""
    for candidate in candidates:
        if candidate != ops[i] and reproduces(ops[:i] + [candidate] + ops[i + 1:]):
            ops[i] = candidate
            return True
    return False


def _simplify_args(ops: list[Op], reproduces: Reproduces) -> bool:
    changed = False
    for i in range(len(ops)):
        while _first(ops, i, simpler_args(ops[i]), reproduces):  # halving data again while it fails
            changed = True
    return changed


def _shrink_groups(ops: list[Op], reproduces: Reproduces) -> bool:
    changed = False
    i = 0
    while i < len(ops):
        op = ops[i]
        smaller = smaller_groups(op) if isinstance(op, Group) else []
        candidate = next((c for c in (replaced(ops, i, g) for g in smaller) if reproduces(c)), None)
        if candidate is None:
            i += 1
            continue
        ops[:] = candidate
        changed = True
    return changed


def _serialize(ops: list[Op], reproduces: Reproduces) -> list[Op] | None:
    """The program with one group run serially, if that still fails."""
    for i, op in enumerate(ops):
        if isinstance(op, Group):
            for serial in serial_forms(op):
                candidate = ops[:i] + serial + ops[i + 1:]
                if reproduces(candidate):
                    return candidate
    return None


def minimize(ops: list[Op], reproduces: Reproduces) -> list[Op]:
    """Drops operations one at a time, then preemptions and tasks of groups, then each
    property (fault injection, `as nobody`), then makes arguments plainer, while the
    same title still appears; repeats until nothing more can go. Then tries each
    group run serially, and if the bug stays, minimizes that program again."""
    ops = list(ops)
    while True:
        changed = True
        while changed:
            changed = False
            for i in range(len(ops) - 1, -1, -1):
                if i >= len(ops):
                    continue
                candidate = drop(ops, i)
                if candidate != ops and reproduces(candidate):
                    ops, changed = candidate, True
            changed = _shrink_groups(ops, reproduces) or changed
            for i in range(len(ops)):
                changed = _first(ops, i, plainer_props(ops[i]), reproduces) or changed
            changed = _simplify_args(ops, reproduces) or changed
        serial = _serialize(ops, reproduces)
        if serial is None:
            return renumber(ops)
        ops = serial
