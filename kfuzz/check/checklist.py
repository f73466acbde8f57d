"""The checklist as rich shows it: a line per check with its verdict and time, then
the reports written, then what no check reached."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .result import CheckResult, ModuleCheck, Verdict

STYLE = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.WARN: "yellow",
         Verdict.INFO: "cyan", Verdict.SKIP: "dim"}


def seconds(s: float) -> str:
    return f"{s * 1000:.0f}ms" if s < 1 else f"{s:.1f}s"


def verdict_text(result: CheckResult) -> Text:
    return Text(result.verdict.value.upper(), style=STYLE[result.verdict])


def checklist(check: ModuleCheck) -> RenderableType:
    table = Table(title=f"kfuzz check {check.path}", title_justify="left", show_edge=False)
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("time", justify="right")
    table.add_column("detail", overflow="fold")
    for r in check.results:
        table.add_row(r.name, verdict_text(r), seconds(r.seconds), r.detail)
    parts: list[RenderableType] = [table]
    for f in check.findings:
        where = str(f.report) if f.report else "(report not written)"
        parts.append(Text(f"  {f.kind}: {f.title} -> {where}", style="red"))
    lines = [*(f"  fallible call never made to fail: {s}" for s in check.unreached.sites),
             *(f"  file operation no node exposed: {s}" for s in check.unreached.fops)]
    parts.append(Text("never reached:", style="bold"))
    parts.append(Text("\n".join(lines) if lines else "  nothing", style="yellow" if lines else "green"))
    failed = sum(r.failed for r in check.results)
    said = f"{failed} check(s) failed" if failed else "all checks pass"
    parts.append(Text(f"{check.module}: {said}", style="bold red" if failed else "bold green"))
    parts.append(Text(f"({seconds(check.seconds)})", style="dim"))
    return Group(*parts)
