"""`--stats FILE`: the run's figures as JSON, rewritten as the run goes.

A CI step or a dashboard can poll it: it is rewritten whole (a temporary file
and a rename) at most every EVERY seconds while events come, and at the end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .files import atomic_write
from .runlog import RunLog

EVERY = 10.0


def stats_json(log: RunLog, running: bool) -> dict[str, Any]:
    figures = log.figures()
    return {
        "command": log.command,
        "running": running,
        "interrupted": log.interrupted,
        "test_cases": figures.cases,
        "operations": figures.ops,
        "seconds": round(figures.seconds, 3),
        "workers": log.workers,
        "modules": len(log.modules),
        "findings": log.by_kind(log.findings()),
        "new_findings": log.by_kind(log.new()),
    }


class StatsOutput(RunLog):
    every = EVERY

    def __init__(self, path: Path, **kw):  # noqa: ANN003 - RunLog's
        super().__init__(**kw)
        self.path = path
        self.written: float | None = None

    def write(self, running: bool) -> None:
        self.written = self.clock()
        atomic_write(self.path, json.dumps(stats_json(self, running), indent=2) + "\n")

    def progress(self) -> None:
        if self.written is None or self.clock() - self.written >= self.every:
            self.write(running=True)

    def finish(self) -> None:
        self.write(running=False)
