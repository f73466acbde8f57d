"""The CI flags, once for every command that runs modules (`fuzz`, `check`).

`ci_options` adds --junit, --sarif, --summary, --stats and --baseline to a click
command, which then gets them as one `CiFlags`; `open_outputs` turns them into
listeners for the run's events (each output checked writable first).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ..fuzz.events import Listener
from .baseline import Baseline
from .files import check_writable
from .junit import JunitOutput
from .runlog import RunLog
from .sarif import SarifOutput
from .stats import StatsOutput
from .summary import SummaryOutput


def open_outputs(*, junit: Path | None = None, sarif: Path | None = None, summary: Path | None = None,
                 stats: Path | None = None, baseline: Baseline | None = None, command: str = "fuzz",
                 workers: int = 1) -> list[RunLog]:
    """A listener per output asked for. CiError when a file cannot be written."""
    kw: dict[str, Any] = {"baseline": baseline, "command": command, "workers": workers}
    outputs: list[RunLog] = []
    for path, flag, output in ((junit, "--junit", JunitOutput), (sarif, "--sarif", SarifOutput),
                               (summary, "--summary", SummaryOutput), (stats, "--stats", StatsOutput)):
        if path is not None:
            check_writable(path, flag, append=output is SummaryOutput)
            outputs.append(output(path, **kw))
    return outputs


@dataclass(frozen=True)
class CiFlags:
    """What the CI flags asked for."""

    junit: Path | None = None
    sarif: Path | None = None
    summary: Path | None = None
    stats: Path | None = None
    baseline: Path | None = None

    def open(self, command: str, workers: int = 1,
             known: Iterable[str] = ()) -> tuple[list[Listener], Baseline]:
        """The listeners and the baseline (empty without --baseline), with the titles
        KNOWN otherwise (the project's suppressions) counted in. CiError on bad input."""
        baseline = Baseline.load(self.baseline) if self.baseline is not None else Baseline()
        baseline = Baseline(baseline.folder, baseline.titles | frozenset(known))
        outputs = open_outputs(junit=self.junit, sarif=self.sarif, summary=self.summary, stats=self.stats,
                               baseline=baseline, command=command, workers=workers)
        return list(outputs), baseline


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _file(flag: str, text: str) -> Decorator:
    return click.option(flag, type=click.Path(path_type=Path, dir_okay=False), default=None, help=text)


OPTIONS: list[Decorator] = [
    _file("--junit", "Write JUnit XML to FILE: a test case per module, a failure per new finding."),
    _file("--sarif", "Write SARIF 2.1.0 to FILE for GitHub code scanning: a result per finding, at the "
                     "guilty line."),
    _file("--summary", "Append a Markdown summary to FILE (give $GITHUB_STEP_SUMMARY): the findings "
                       "with links to their reports, and the run's figures."),
    _file("--stats", "Write the run's figures to FILE as JSON (test_cases, operations, seconds, "
                     "workers, findings by kind), rewritten every 10 s and at the end."),
    click.option("--baseline", type=click.Path(path_type=Path, file_okay=False), default=None,
                 help="A reports folder from the main branch: findings whose title is there are listed "
                      "as known and do not fail the run (exit status 0 unless a finding is new)."),
]


def ci_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the CI flags to a click command; it gets them as `ci: CiFlags`."""

    @functools.wraps(command)
    def wrapper(*args: Any, junit: Path | None, sarif: Path | None, summary: Path | None,
                stats: Path | None, baseline: Path | None, **kwargs: Any) -> Any:
        return command(*args, ci=CiFlags(junit, sarif, summary, stats, baseline), **kwargs)

    decorated: Callable[..., Any] = wrapper
    for option in reversed(OPTIONS):
        decorated = option(decorated)
    return decorated
