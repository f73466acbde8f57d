"""Programs: the operation table, typed operations, the `.kfz` text form, the runner."""

from .ops import SPECS, TABLE, OpSpec, Props
from .outcome import OpResult, Outcome, Reply, Result
from .parse import ProgramError, format_data, load_program, parse_op, parse_program
from .program import Group, Op, Program
from .session import KernelSession, kernel_config, program_index, run_program

__all__ = ["SPECS", "TABLE", "Group", "KernelSession", "Op", "OpResult", "OpSpec", "Outcome", "Program",
           "ProgramError", "Props", "Reply", "Result", "format_data", "kernel_config", "load_program",
           "parse_op", "parse_program", "program_index", "run_program"]
