"""Fuzzing: the Hypothesis state machine, campaigns, the repro pipeline, events."""

from .campaign import Campaign, FuzzOptions
from .events import Events
from .repro import BugRecord
from .run import FuzzResult, closure, fuzz, resolve_targets

__all__ = ["BugRecord", "Campaign", "Events", "FuzzOptions", "FuzzResult", "closure", "fuzz",
           "resolve_targets"]
