"""`--summary FILE`: the run as Markdown for a CI step summary ($GITHUB_STEP_SUMMARY).

Appended, as GitHub expects of that file (each step adds its own part): a heading
with the verdict, the findings table with a link to each report, the modules'
figures and the run's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..render import plural
from ..report.record import shown_path
from .runlog import Found, RunLog

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")


def md(text: str) -> str:
    """Text that Markdown (and a table cell) shows as it is."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def link(found: Found) -> str:
    if found.folder is None:
        return f"not written: {md(found.unwritten)}" if found.unwritten else "-"
    folder = Path(shown_path(str(found.folder)))
    return f"[{md(folder.as_posix())}]({(folder / 'report.md').as_posix().replace(' ', '%20')})"


def run_url() -> str | None:
    """This workflow run's page on GitHub (where its artifacts are), when run by Actions."""
    env = os.environ
    if all(env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")):
        return f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return None


def headline(log: RunLog) -> str:
    new, known = len(log.new()), len(log.findings()) - len(log.new())
    verdict = f"{plural(new, 'new finding')}" if new else "no new finding"
    if known:
        verdict += f", {known} known (in the baseline)"
    if log.interrupted:
        verdict += ", interrupted"
    checks = sum(len(run.checks_failed) for run in log.modules.values())
    if checks:
        verdict += f", {plural(checks, 'check')} failed"
    return f"## {'❌' if new or checks else '✅'} kfuzz {log.command}: {verdict}"


def summary_markdown(log: RunLog) -> str:
    lines = [headline(log), ""]
    findings = sorted(log.findings(), key=lambda f: (f.known, f.target, f.kind, f.title))
    if findings:
        lines += ["| | module | kind | title | report |", "|---|---|---|---|---|"]
        lines += [f"| {'known' if f.known else '**new**'} | {md(f.target)} | {md(f.kind)} | {md(f.title)} "
                  f"| {link(f)} |" for f in findings]
        lines.append("")
        url = run_url()
        where = f"Report folders are in the artifacts of [this run]({url}); " if url else ""
        lines += [f"{where}`kfuzz replay FOLDER` runs a report folder's repro.", ""]
    failed_checks = [(run.name, check, detail) for run in log.modules.values()
                     for check, detail in run.checks_failed]
    if failed_checks:
        lines += ["| module | check failed | why |", "|---|---|---|"]
        lines += [f"| {md(name)} | {md(check)} | {md(detail)} |" for name, check, detail in failed_checks]
        lines.append("")
    lines += ["| module | test cases | operations | seconds | findings |", "|---|--:|--:|--:|--:|"]
    for run in log.modules.values():
        c = run.counts
        lines.append(f"| {md(run.name)} | {c.cases:,} | {c.ops:,} | {c.seconds:.1f} | {len(run.found)} |")
    total = log.figures()
    lines += ["", f"**{plural(len(log.modules), 'module')}**, {total.cases:,} test cases, "
                  f"{total.ops:,} operations in {total.seconds:.1f} s "
                  f"({total.rate:,.0f} ops/s), {plural(log.workers, 'worker')}."]
    if log.baseline.folder is not None:
        lines.append(f"Baseline: `{log.baseline.folder}` ({plural(len(log.baseline.titles), 'title')}).")
    return "\n".join(lines) + "\n\n"


class SummaryOutput(RunLog):
    def __init__(self, path: Path, **kw):  # noqa: ANN003 - RunLog's
        super().__init__(**kw)
        self.path = path

    def finish(self) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(summary_markdown(self))
