"""A program: a list of typed operations that prints back as `.kfz` text."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..kernel.sched import Drawn, Preempt
from .ops import SPECS, TOGETHER, OpSpec, Props
from .values import ArgValue, Ref

SETTINGS = ("sig_enforce", "autoload", "panic_on_warn", "modules_disabled", "dyndbg", "keyring", "kcsan")


@dataclass(frozen=True)
class Op:
    """One line: `verb args... [-> bind]` with its properties, typed when it was read.

    `args` hold one value per argument of the verb's table entry: `Num`, `Data`,
    `Ref`, a `DeviceId`, a module name, parameters as (key, value) pairs.
    """

    verb: str
    args: tuple[ArgValue, ...] = ()
    bind: str | None = None
    props: Props = Props()
    lineno: int = field(default=0, compare=False)
    comment: str = field(default="", compare=False)  # a `# ...` after the operation

    @property
    def spec(self) -> OpSpec:
        return SPECS[self.verb]

    @property
    def fail_nth(self) -> int | None:
        return self.props.fail_nth

    @property
    def nobody(self) -> bool:
        return self.props.nobody

    def format(self) -> str:
        words = [self.verb]
        for kind, value in zip(self.spec.args, self.args, strict=True):
            words += kind.format(value)
        text = " ".join(words)
        if self.props.nobody:
            text = "as nobody " + text
        if self.bind:
            text += f" -> {self.bind}"
        if self.props.fail_nth:
            text += f" (fail_nth: {self.props.fail_nth})"
        if self.comment:
            text += f"  {self.comment}"
        return text

    def refs(self) -> list[Ref]:
        return [r for kind, value in zip(self.spec.args, self.args, strict=True)
                for r in kind.refs(value)]

    def uses(self) -> list[str]:
        """The names this operation refers to (devN, fdN)."""
        return [r.name for r in self.refs()]

    def renamed(self, names: dict[str, str]) -> Op:
        """The same operation with the names it uses renamed."""
        args = tuple(Ref(names.get(v.name, v.name), v.resource) if isinstance(v, Ref) else v
                     for v in self.args)
        return replace(self, args=args)

    def without_fault(self) -> Op:
        return replace(self, props=replace(self.props, fail_nth=None))

    def binds(self) -> list[tuple[str, str]]:
        """The names it binds, each with its resource (`fd0`, `fd`)."""
        return [(self.bind, self.spec.binds)] if self.bind and self.spec.binds else []

    def serial(self) -> list[Op]:
        """The operations it runs, one after another."""
        return [self]


@dataclass(frozen=True)
class Group(Op):
    """Operations run together, each as a task of its own (t1, t2, ...), and the
    schedule that ran: the preemptions over the default order (kernel/sched.py).

        together
          t1: unplug dev0
          t2: close fd0
        schedule: t1 at kfree -> t2

    `drawn` is the fuzzer's: preemptions drawn before the calls were known, sent to
    the kernel, which answers with the ones that fired. It is never printed."""

    verb: str = "together"
    tasks: tuple[Op, ...] = ()
    schedule: tuple[Preempt, ...] = ()
    drawn: tuple[Drawn, ...] = field(default=(), compare=False)

    @property
    def spec(self) -> OpSpec:
        return TOGETHER

    def format(self) -> str:
        head = "together" + (f"  {self.comment}" if self.comment else "")
        lines = [head, *(f"  t{n}: {replace(op, comment='').format()}" for n, op in enumerate(self.tasks, 1))]
        if self.schedule:
            lines.append("schedule: " + ", ".join(p.format() for p in self.schedule))
        return "\n".join(lines)

    def refs(self) -> list[Ref]:
        return [r for op in self.tasks for r in op.refs()]

    def renamed(self, names: dict[str, str]) -> Group:
        return replace(self, tasks=tuple(op.renamed(names) for op in self.tasks))

    def without_fault(self) -> Group:
        return replace(self, tasks=tuple(op.without_fault() for op in self.tasks))

    def binds(self) -> list[tuple[str, str]]:
        return [b for op in self.tasks for b in op.binds()]

    def serial(self) -> list[Op]:
        return list(self.tasks)


@dataclass
class Program:
    """The lines of a `.kfz` file: operations, and comments kept as they were."""

    lines: list[Op | str] = field(default_factory=list)
    modules: list[Path] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    checks: list[str] = field(default_factory=list)

    @property
    def ops(self) -> list[Op]:
        return [line for line in self.lines if isinstance(line, Op)]

    def format(self) -> str:
        return "".join((line.format() if isinstance(line, Op) else line) + "\n"
                       for line in self.lines)

    def with_ops(self, ops: list[Op]) -> Program:
        """The same header with other operations (what the minimizer tries)."""
        first = next((i for i, x in enumerate(self.lines) if isinstance(x, Op)), len(self.lines))
        head = [line for line in self.lines[:first] if isinstance(line, str) and line.startswith("#")]
        return Program([*head, *ops], list(self.modules), dict(self.settings), self.path,
                       list(self.checks))


def header(modules: list[str], settings: dict[str, str], checks: list[str] | tuple[str, ...] = (),
           title: str = "kfuzz repro") -> list[str]:
    lines = [f"# {title}", f"# modules: {' '.join(modules)}"]
    if settings:
        lines.append("# kernel: " + " ".join(f"{k}={v}" for k, v in settings.items()))
    if checks:
        lines.append("# check: " + " ".join(checks))
    return lines
