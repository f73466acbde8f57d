"""Programs: operations, the `.kfz` text form, and running one on a kernel."""

from .parse import ProgramError, format_data, load_program, parse_program
from .program import Op, Program
from .run import Outcome, execute, kernel_config, program_index, run_program

__all__ = ["Op", "Outcome", "Program", "ProgramError", "execute", "format_data", "kernel_config",
           "load_program", "parse_program", "program_index", "run_program"]
