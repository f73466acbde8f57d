"""The smallest program that still fails the same way: same title, not just 'a bug'."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..prog import Op
from ..prog.parse import format_data, parse_data

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


# which argument of an operation is a number worth making 0 or 1
NUMBER_ARG = {"ioctl": 2, "read": 1, "tick": 0}


def simpler_args(op: Op) -> list[Op]:
    """Plainer versions of one operation, plainest first: a number made 0 or 1, data
    cut to a half or a byte of itself."""
    out = []
    k = NUMBER_ARG.get(op.verb)
    if k is not None and k < len(op.args) and op.args[k] != "0":
        plainer = ("0",) if op.args[k] == "1" else ("0", "1")  # never back to a tried value
        out += [replace(op, args=op.args[:k] + (v,) + op.args[k + 1:]) for v in plainer]
    if op.verb == "write" and len(op.args) == 2:
        data = parse_data(op.args[1])
        for n in sorted({1, len(data) // 2}):
            if n < len(data):
                out.append(replace(op, args=(op.args[0], format_data(data[:n]))))
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
    """Drops operations one at a time, then fault injection and `as nobody`, then
    makes arguments plainer, while the same title still appears; repeats until
    nothing more can go."""
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
        changed = _simplify_args(ops, reproduces) or changed
    return renumber(ops)
