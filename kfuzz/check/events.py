"""A module's check as the run's events, so the CI outputs (kfuzz/ci/) serve `check`
as they serve `fuzz`: a test case per module, a failure per finding it reported."""

from __future__ import annotations

from ..fuzz.events import (
    CampaignFinished,
    CampaignStarted,
    CheckFailed,
    Counts,
    Events,
    ReportFailed,
    ReportWritten,
)
from .result import ModuleCheck


def emit_check(events: Events, done: ModuleCheck) -> None:
    """The events of one module checked, after the fact (a check has no live figures)."""
    events.emit(CampaignStarted(done.module, 0))
    for found in done.findings:
        steps = sum(1 for line in found.repro.splitlines() if line.strip() and not line.startswith("#"))
        if found.report is None:
            events.emit(ReportFailed(done.module, found.title, found.kind, found.repro,
                                     "the check could not write its report folder"))
        else:
            events.emit(ReportWritten(done.module, found.title, found.kind, steps, 0, 0, True, found.report))
    for result in done.results:
        if result.failed and not result.findings:
            events.emit(CheckFailed(done.module, result.name, result.detail))
    events.emit(CampaignFinished(done.module, Counts(0, 0, done.seconds, len(done.findings))))
