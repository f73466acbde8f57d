"""Testing modules as everything else is tested: programs run on a fresh kernel, and
`assert_clean`, which fails with the finding's report.

`KernelRunner` is what the pytest plugin's `kernel` fixture gives a test (see
kfuzz/pytest_plugin.py): each `run` is a fresh kernel in a worker subprocess, the
fork executor `kfuzz replay` uses, so module code that crashes or hangs is a
finding, not a dead test run. What a run gives back is what `kfuzz replay --json`
prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .executor import ForkExecutor
from .kernel import ModuleIndex
from .prog import Program, ProgramError, load_program, parse_program, program_index
from .replay import replay_json, repro_file

LOADS = ("insmod", "modprobe")


@dataclass(frozen=True)
class RunFinding:
    """The first finding of a run, as its report has it."""

    kind: str
    title: str
    module: str | None
    function: str | None
    message: str = ""
    repro: str = ""
    traceback: list[str] = field(default_factory=list)
    alloc_site: list[str] = field(default_factory=list)
    free_site: list[str] = field(default_factory=list)

    def report(self) -> str:
        """The finding as a failing test shows it: title, repro, traceback."""
        where = f"{self.module}.{self.function}" if self.function else (self.module or "the kernel")
        lines = [f"{self.title}: {self.message}" if self.message else self.title,
                 f"{self.kind} in {where}", "", "repro:"]
        lines += [f"    {line}" for line in self.repro.rstrip("\n").split("\n")]
        for name, block in (("traceback into module code", self.traceback),
                            ("allocated by", self.alloc_site), ("freed by", self.free_site)):
            if block:
                lines += ["", f"{name}:", *block]
        return "\n".join(lines)


@dataclass
class RunOutcome:
    """What a program did: its first finding (None when clean), the kernel log, and each
    operation's line and result; `record` is the whole of what `kfuzz replay --json` prints."""

    finding: RunFinding | None
    dmesg: list[str]
    results: list[dict[str, Any]]
    record: dict[str, Any]

    @classmethod
    def of(cls, record: dict[str, Any]) -> RunOutcome:
        finding = None
        if record.get("title") is not None:
            finding = RunFinding(record["kind"], record["title"], record["module"], record["function"],
                                 record.get("message") or "", record.get("repro") or "",
                                 list(record.get("traceback") or []), list(record.get("alloc_site") or []),
                                 list(record.get("free_site") or []))
        return cls(finding, list(record["dmesg"]), list(record["results"]), record)


def assert_clean(outcome: RunOutcome) -> None:
    """Fails, with the finding's report as the message, unless the program ran clean."""
    __tracebackhide__ = True  # pytest shows the test's line, not this one
    if outcome.finding is not None:
        raise AssertionError(outcome.finding.report())


class KernelRunner:
    """Runs programs on fresh kernels, each program in a worker subprocess.

    Module files come from the program's `# modules:` header; without one, the
    modules its insmod and modprobe lines name are looked for on `module_path`.
    `settings` are kernel settings a program's `# kernel:` header has not set.
    """

    def __init__(self, module_path: Path | None = None, base_dir: Path | None = None,
                 op_timeout: float = 1.0, settings: dict[str, str] | None = None, where: str = "kernel.run"):
        self.module_path = module_path
        self.base_dir = base_dir or Path.cwd()
        self.op_timeout = op_timeout
        self.settings = dict(settings or {})
        self.where = where
        self._executors: dict[tuple[str, ...], ForkExecutor] = {}
        self._scanned: ModuleIndex | None = None

    def run(self, text: str) -> RunOutcome:
        """Runs program TEXT (`.kfz` lines) on a fresh kernel."""
        prog = parse_program(text, self.base_dir, self.where, self.module_path)
        return self._run(prog, self.where)

    def run_file(self, path: Path | str) -> RunOutcome:
        """Runs a `.kfz` file, or a report folder's repro.kfz, on a fresh kernel."""
        prog = load_program(repro_file(Path(path)), self.module_path)
        return self._run(prog, str(path))

    def _run(self, prog: Program, where: str) -> RunOutcome:
        prog.settings = {**self.settings, **prog.settings}
        executor = self._executor(prog)
        outcome = executor.run(prog)
        return RunOutcome.of(replay_json(where, prog, outcome, []))

    def _executor(self, prog: Program) -> ForkExecutor:
        key = tuple(sorted(str(p.resolve()) for p in prog.modules))  # () for the module path
        executor = self._executors.get(key)
        if executor is None:
            index = program_index(prog) if prog.modules else self._module_path_index()
            executor = self._executors[key] = ForkExecutor(index, self.op_timeout, pin=False)
        if not prog.modules:
            self._check_named(prog, executor.index)
        return executor

    def _module_path_index(self) -> ModuleIndex:
        if self._scanned is None:
            self._scanned = ModuleIndex.scan([self.module_path] if self.module_path else [])
        return self._scanned

    def _check_named(self, prog: Program, index: ModuleIndex) -> None:
        """A module an insmod or modprobe line names that is nowhere: a mistake in the test."""
        for op in (task for line in prog.ops for task in line.serial()):
            name = str(op.args[0]) if op.verb in LOADS and op.args else None
            if name is None or index.get(name) is not None:
                continue
            if self.module_path is None:
                raise ProgramError(self.where, op.lineno, f"module '{name}' not found: no module path",
                                   "set module_path under [tool.kfuzz] in pyproject.toml or "
                                   "kfuzz_module_path in pytest's ini, or give a `# modules:` header")
            raise ProgramError(self.where, op.lineno, f"module '{name}' not found in {self.module_path}",
                               "give its file a `# modules:` header, or put it on the module path")

    def __repr__(self) -> str:
        return f"<kfuzz kernel: module path {self.module_path or '-'}, op_timeout {self.op_timeout}s>"

    def close(self) -> None:
        for executor in self._executors.values():
            executor.close()
        self._executors.clear()

    def __enter__(self) -> KernelRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
