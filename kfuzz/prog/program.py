"""A program: a list of operations as plain data that prints back as `.kfz` text."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

# The operations of repro-format.md: verb -> does it bind a name with `-> name`.
BINDS = {"plug": True, "open": True}
VERBS = ("insmod", "rmmod", "modprobe", "plug", "unplug", "open", "read", "write", "ioctl",
         "close", "irq", "tick", "suspend", "sysctl")
SETTINGS = ("sig_enforce", "autoload", "panic_on_warn", "modules_disabled", "keyring")


@dataclass(frozen=True)
class Op:
    """One line: `verb args... [-> bind] [(fail_nth: N)]`, maybe `as nobody`.

    Arguments are kept as the text tokens of the line, validated when parsed,
    so that a program prints back exactly as it was written.
    """

    verb: str
    args: tuple[str, ...] = ()
    bind: str | None = None
    fail_nth: int | None = None
    nobody: bool = False
    lineno: int = 0
    comment: str = ""  # a `# ...` after the operation, printed back with it

    def format(self) -> str:
        text = " ".join((self.verb, *self.args))
        if self.nobody:
            text = "as nobody " + text
        if self.bind:
            text += f" -> {self.bind}"
        if self.fail_nth:
            text += f" (fail_nth: {self.fail_nth})"
        if self.comment:
            text += f"  {self.comment}"
        return text

    def uses(self) -> list[str]:
        """The names this operation refers to (devN, fdN)."""
        if self.verb in ("unplug", "read", "write", "ioctl", "close") and self.args:
            return [self.args[0]]
        if self.verb == "irq" and self.args and not self.args[0].lstrip("-").isdigit() \
                and not self.args[0].startswith("0x"):
            return [self.args[0]]
        return []

    def without_fault(self) -> Op:
        return replace(self, fail_nth=None)


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
        header = [line for line in self.lines if isinstance(line, str) and line.startswith("#")
                  and not self._after_first_op(line)]
        return Program(header + list(ops), list(self.modules), dict(self.settings), self.path,
                       list(self.checks))

    def _after_first_op(self, line: str) -> bool:
        first = next((i for i, x in enumerate(self.lines) if isinstance(x, Op)), len(self.lines))
        return self.lines.index(line) > first


def header(modules: list[str], settings: dict[str, str], checks: list[str] = (),
           title: str = "kfuzz repro") -> list[str]:
    lines = [f"# {title}", f"# modules: {' '.join(modules)}"]
    if settings:
        lines.append("# kernel: " + " ".join(f"{k}={v}" for k, v in settings.items()))
    if checks:
        lines.append("# check: " + " ".join(checks))
    return lines
