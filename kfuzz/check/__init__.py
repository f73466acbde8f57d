"""`kfuzz check`: the pre-release check of a module, a checklist line per check.

The results (`ModuleCheck`, its `CheckResult`s and their `CheckFinding`s, result.py)
are the seam for CI outputs: a listener gets one `ModuleCheck` per module.
"""

from .checklist import checklist
from .result import CheckFinding, CheckResult, ModuleCheck, Unreached, Verdict
from .run import CheckOptions, check_module

__all__ = ["CheckFinding", "CheckOptions", "CheckResult", "ModuleCheck", "Unreached", "Verdict",
           "check_module", "checklist"]
