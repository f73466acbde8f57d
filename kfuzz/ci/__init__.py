"""What a CI job reads from a run: JUnit XML, SARIF, a step summary, live stats, and
the baseline that tells new findings from known ones. Each output is a listener on
the run's events (fuzz/events.py) that reads the report record (report/record.py)."""

from .baseline import Baseline, CiError
from .outputs import CiFlags, ci_options, open_outputs
from .runlog import Found, RunLog

__all__ = ["Baseline", "CiError", "CiFlags", "Found", "RunLog", "ci_options", "open_outputs"]
