"""The executor interface, and the requests that cross to a kernel worker.

A request or a reply is a dataclass of plain values with to/from JSON, so that
it can cross a pipe today and a machine later. No kernel object ever crosses:
an operation goes as its typed `Op` (or, in JSON, its `.kfz` line), and comes
back as a `Reply` whose result is plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ..kernel import ModuleIndex
from ..kernel.sched import Drawn
from ..prog import KernelSession, Op, Outcome, Program, Props, Reply, parse_op, parse_program
from ..prog.program import Group
from ..prog.values import ArgValue, Data, Num, Ref


class Executor(Protocol):
    """Where a test case's kernel runs: a worker process, or this process."""

    index: ModuleIndex
    restarts: int

    def begin(self, settings: dict[str, str]) -> None:
        """Starts a test case: its kernel is made fresh with the next request."""

    def step(self, op: Op) -> Reply:
        """Runs one operation of the test case."""

    def end(self) -> Reply:
        """Cleans up and checks at the end of the test case."""

    def run(self, prog: Program) -> Outcome:
        """A whole program in a fresh kernel (replay, minimization, python-leak)."""

    def abort(self) -> None:
        """After an interruption: whatever was in flight is dropped."""

    def close(self) -> None:
        """Ends the kernel's process, if it has one."""


@dataclass
class StepRequest:
    op: Op
    settings: dict[str, str] | None = None  # begin a fresh kernel first

    def __reduce__(self) -> tuple[Callable[..., StepRequest], tuple[object, ...]]:
        """The operation as a flat tuple of plain values (its properties too): what
        pickles in half the time of the dataclasses, and what the pipe sends in marshal
        (wire.py) when every value is plain."""
        op = self.op
        if isinstance(op, Group):
            return StepRequest, (op, self.settings)
        return _step, (op.verb, tuple(_flat(a) for a in op.args), op.bind, op.props.__reduce__()[1],
                       self.settings)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.op.format(), "settings": self.settings}
        if isinstance(self.op, Group) and self.op.drawn:
            out["drawn"] = [[d.task, d.point, d.to] for d in self.op.drawn]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepRequest:
        op = parse_op(data["step"])
        if isinstance(op, Group) and data.get("drawn"):
            op = replace(op, drawn=tuple(Drawn(*d) for d in data["drawn"]))
        return cls(op, data.get("settings"))


def _flat(arg: ArgValue) -> object:
    if isinstance(arg, Num):
        return ("n", int(arg), arg.text)
    if isinstance(arg, Data):
        return ("d", bytes(arg), arg.text)
    if isinstance(arg, Ref):
        return ("r", arg.name, arg.resource)
    return arg


def _typed(arg: Any) -> ArgValue:  # a value _flat made: a tagged tuple or the value itself
    if type(arg) is tuple and len(arg) == 3 and arg[0] in ("n", "d", "r"):
        tag, value, text = arg
        return Num(value, text) if tag == "n" else Data(value, text) if tag == "d" else Ref(value, text)
    return arg


def _step(verb: str, args: tuple[object, ...], bind: str | None, props: tuple[Any, ...],
          settings: dict[str, str] | None) -> StepRequest:
    return StepRequest(Op(verb, tuple(_typed(a) for a in args), bind, Props(*props)), settings)


@dataclass
class EndRequest:
    settings: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"end": True, "settings": self.settings}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EndRequest:
        return cls(data.get("settings"))


@dataclass
class RunRequest:
    program: Program

    def to_json(self) -> dict[str, Any]:
        prog = self.program
        return {"run": [op.format() for op in prog.ops], "modules": [str(p) for p in prog.modules],
                "settings": prog.settings, "checks": prog.checks}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRequest:
        prog = parse_program("\n".join(data["run"]))
        prog.modules = [Path(p) for p in data["modules"]]
        prog.settings, prog.checks = dict(data["settings"]), list(data["checks"])
        return cls(prog)


Request = StepRequest | EndRequest | RunRequest


def serve(session: KernelSession, request: Request) -> Reply | Outcome:
    """What a kernel session answers to a request."""
    if isinstance(request, StepRequest):
        return session.step(request.op, request.settings)
    if isinstance(request, EndRequest):
        return session.end(request.settings)
    return session.run(request.program)
