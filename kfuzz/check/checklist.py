"""The checklist as rich shows it: a line per check (its verdict, time, name and what
it found), then the reports written, then what no check reached. Lines, not a table,
so that a CI log of 80 columns keeps one check a line."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from .result import CheckResult, ModuleCheck, Verdict

STYLE = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.WARN: "yellow",
         Verdict.INFO: "cyan", Verdict.SKIP: "dim"}
MARK = {Verdict.PASS: "✓", Verdict.FAIL: "✗", Verdict.WARN: "!", Verdict.INFO: "i", Verdict.SKIP: "-"}


def seconds(s: float) -> str:
    return f"{s * 1000:.0f}ms" if s < 1 else f"{s:.1f}s"


def check_line(result: CheckResult, width: int) -> Text:
    """`✓ PASS   12ms  licence  "GPL" (GPL-compatible)`"""
    line = Text("  ")
    line.append(f"{MARK[result.verdict]} {result.verdict.value.upper():<4}", style=STYLE[result.verdict])
    line.append(f" {seconds(result.seconds):>6}  ")
    line.append(f"{result.name:<{width}}", style="bold")
    line.append(f"  {result.detail}", style="red" if result.failed else "")
    return line


def checklist(check: ModuleCheck) -> RenderableType:
    width = max((len(r.name) for r in check.results), default=0)
    parts: list[RenderableType] = [Text(f"kfuzz check {check.path}", style="bold")]
    parts += [check_line(r, width) for r in check.results]
    for f in check.findings:
        where = str(f.report) if f.report else "(report not written)"
        parts.append(Text(f"  report: {f.kind}: {f.title} -> {where}", style="red"))
    lines = [*(f"  fallible call never made to fail: {s}" for s in check.unreached.sites),
             *(f"  file operation no node exposed: {s}" for s in check.unreached.fops)]
    parts.append(Text("never reached:", style="bold"))
    parts.append(Text("\n".join(lines) if lines else "  nothing", style="yellow" if lines else "green"))
    failed = sum(r.failed for r in check.results)
    said = f"{failed} check(s) failed" if failed else "all checks pass"
    parts.append(Text(f"{check.module}: {said} ({seconds(check.seconds)})",
                      style="bold red" if failed else "bold green"))
    return Group(*parts)
