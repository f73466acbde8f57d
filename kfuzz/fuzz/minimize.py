"""The smallest program that still fails the same way: same title, not just 'a bug'."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..prog import Op

Reproduces = Callable[[list[Op]], bool]


def drop(ops: list[Op], i: int) -> list[Op]:
    """Without op i, and without the ops that use a name it binds."""
    gone = {ops[i].bind} if ops[i].bind else set()
    return [op for j, op in enumerate(ops) if j != i and not gone.intersection(op.uses())]


def renumber(ops: list[Op]) -> list[Op]:
    """dev0, dev1, fd0... in the order the program binds them."""
    names: dict[str, str] = {}
    counts = {"dev": 0, "fd": 0}
    out = []
    for op in ops:
        args = tuple(names.get(a, a) if k == 0 else a for k, a in enumerate(op.args))
        bind = op.bind
        if bind:
            kind = "dev" if op.verb == "plug" else "fd"
            names[bind] = bind = f"{kind}{counts[kind]}"
            counts[kind] += 1
        out.append(replace(op, args=args, bind=bind))
    return out


def minimize(ops: list[Op], reproduces: Reproduces) -> list[Op]:
    """Drops operations one at a time, then fault injection and `as nobody`, while
    the same title still appears; repeats until nothing more can go."""
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
            for simplify in (lambda op: replace(op, fail_nth=None), lambda op: replace(op, nobody=False)):
                simpler = simplify(ops[i])
                if simpler != ops[i] and reproduces(ops[:i] + [simpler] + ops[i + 1:]):
                    ops[i] = simpler
                    changed = True
    return renumber(ops)
