"""Replaying a repro: a `.kfz` file or a report folder, in an isolated kernel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .executor import make_executor
from .kernel import ModuleIndex
from .prog import Outcome, Program, load_program, program_index
from .report import ReportRecord, read_record, sha256_of


def repro_file(path: Path) -> Path:
    """A report folder stands for its repro.kfz."""
    path = Path(path)
    return path / "repro.kfz" if path.is_dir() else path


@dataclass(frozen=True)
class ChangedModule:
    """A module file whose content is not what the report was made with."""

    path: Path
    then: str
    now: str

    def format(self) -> str:
        return (f"{self.path} changed since the report (sha256 {self.then[:12]} then, {self.now[:12]} "
                f"now): a clean replay may mean the bug was fixed")


def changed_modules(prog: Program, repro: Path) -> list[ChangedModule]:
    """The program's module files that differ from those of the report beside the repro."""
    record = read_record(repro.parent)
    if record is None or not record.modules:
        return []
    then = {Path(name).name: sha for name, sha in record.modules.items()}
    out = []
    for path in prog.modules:
        old = then.get(path.name)
        new = sha256_of(path)
        if old and new != old:
            out.append(ChangedModule(path, old, new))
    return out


def replay_program(prog: Program, isolation: str = "fork", op_timeout: float = 1.0,
                   index: ModuleIndex | None = None) -> Outcome:
    if index is None:
        index = program_index(prog)  # bad module files are refused here, before anything runs
    executor = make_executor(isolation, index, op_timeout)
    try:
        return executor.run(prog)
    finally:
        executor.close()


def replay_path(path: Path, isolation: str = "fork", op_timeout: float = 1.0,
                module_path: Path | None = None) -> Outcome:
    return replay_program(load_program(repro_file(path), module_path), isolation, op_timeout)


def replay_json(path: Path | str, prog: Program, outcome: Outcome,
                changed: list[ChangedModule]) -> dict[str, Any]:
    """One replay as JSON: the report record of its finding (its fields null when clean),
    the kernel log, and each operation's result."""
    record: dict[str, Any] = {"file": str(path)}
    history = ("reproduced", "replays", "minimized", "count", "first_seen", "last_seen", "last_run",
               "seed", "modules", "dmesg")  # a report's history, not this replay's
    for key in ReportRecord.__dataclass_fields__:
        if key not in history:
            record[key] = None
    if outcome.finding is not None:
        found = ReportRecord.of(outcome.finding, prog.format(), len(prog.ops)).to_json()
        record.update((k, v) for k, v in found.items() if k in record)
    record["dmesg"] = outcome.dmesg
    # a group's result is a list, one per task; `fired` lists the preemptions of its schedule
    # that fired (one that never fires is ignored)
    record["results"] = [{"op": r.op, "result": r.result,
                          **({"fired": list(r.schedule)} if r.schedule else {})} for r in outcome.results]
    record["changed_modules"] = [{"path": str(c.path), "then": c.then, "now": c.now} for c in changed]
    return record
