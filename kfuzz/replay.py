"""Replaying a repro: a `.kfz` file or a report folder, in an isolated kernel."""

from __future__ import annotations

from pathlib import Path

from .executor import make_executor
from .kernel import ModuleIndex
from .prog import Outcome, Program, load_program, program_index


def repro_file(path: Path) -> Path:
    """A report folder stands for its repro.kfz."""
    path = Path(path)
    return path / "repro.kfz" if path.is_dir() else path


def replay_program(prog: Program, isolation: str = "fork", op_timeout: float = 1.0,
                   index: ModuleIndex | None = None) -> Outcome:
    if index is None:
        index = program_index(prog)  # bad module files are refused here, before anything runs
    executor = make_executor(isolation, index, op_timeout)
    try:
        return executor.replay(prog)
    finally:
        executor.close()


def replay_path(path: Path, isolation: str = "fork", op_timeout: float = 1.0) -> Outcome:
    return replay_program(load_program(repro_file(path)), isolation, op_timeout)
