"""The smallest program that still fails the same way: same title, not just 'a bug'.

Everything here works through the operation table: what an operation uses and
binds, how each argument kind is made plainer, which properties it carries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..prog import Op, Props

Reproduces = Callable[[list[Op]], bool]


def drop(ops: list[Op], i: int) -> list[Op]:
    """Without op i, and without the ops that use a name it binds (and so on)."""
    gone = {ops[i].bind} if ops[i].bind else set()
    out = []
    for j, op in enumerate(ops):
        if j == i:
            continue
        if gone.intersection(op.uses()):
            if op.bind:
                gone.add(op.bind)
            continue
        out.append(op)
    return out


def renumber(ops: list[Op]) -> list[Op]:
    """dev0, dev1, fd0... in the order the program binds them."""
    names: dict[str, str] = {}
    counts: dict[str, int] = {}
    out = []
    for op in ops:
        op = op.renamed(names)
        resource = op.spec.binds
        if op.bind and resource:
            n = counts.get(resource, 0)
            names[op.bind] = f"{resource}{n}"
            counts[resource] = n + 1
            op = replace(op, bind=names[op.bind])
        out.append(op)
    return out


def simpler_args(op: Op) -> list[Op]:
    """Plainer versions of one operation, an argument at a time, plainest first."""
    out = []
    for k, (kind, value) in enumerate(zip(op.spec.args, op.args, strict=True)):
        for plainer in kind.simpler(value):
            out.append(replace(op, args=(*op.args[:k], plainer, *op.args[k + 1:])))
    return out


def _simplify_args(ops: list[Op], reproduces: Reproduces) -> bool:
    changed = False
    for i in range(len(ops)):
        progress = True
        while progress:  # halving data again while it still fails
            progress = False
            for simpler in simpler_args(ops[i]):
                if reproduces(ops[:i] + [simpler] + ops[i + 1:]):
                    ops[i], changed, progress = simpler, True, True
                    break
    return changed


def minimize(ops: list[Op], reproduces: Reproduces) -> list[Op]:
    """Drops operations one at a time, then each property (fault injection, `as
    nobody`), then makes arguments plainer, while the same title still appears;
    repeats until nothing more can go."""
    ops = list(ops)
    changed = True
    while changed:
        changed = False
        for i in range(len(ops) - 1, -1, -1):
            if i >= len(ops):
                continue
            candidate = drop(ops, i)
            if candidate != ops and reproduces(candidate):
                ops, changed = candidate, True
        for i in range(len(ops)):
            for name in Props.names():
                simpler = replace(ops[i], props=ops[i].props.without(name))
                if simpler != ops[i] and reproduces(ops[:i] + [simpler] + ops[i + 1:]):
                    ops[i] = simpler
                    changed = True
        changed = _simplify_args(ops, reproduces) or changed
    return renumber(ops)
