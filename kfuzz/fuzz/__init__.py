"""Fuzzing: the Hypothesis state machine, campaigns, minimization."""

from .campaign import BugRecord, Campaign, FuzzOptions
from .run import FuzzResult, closure, fuzz, resolve_targets

__all__ = ["BugRecord", "Campaign", "FuzzOptions", "FuzzResult", "closure", "fuzz", "resolve_targets"]
