"""rich renderables for what kfuzz shows a person: outcomes, modinfo, findings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .kernel import Finding, ModuleImage
from .prog import Outcome
from .prog.outcome import failed

if TYPE_CHECKING:
    from .fuzz import BugRecord, FuzzResult


def finding_panel(f: Finding) -> RenderableType:
    body = Table.grid(padding=(0, 1))
    body.add_column(style="bold")
    body.add_column()
    body.add_row("kind", f.kind)
    body.add_row("module", f.module)
    body.add_row("function", f.function)
    body.add_row("what", f.message)
    parts: list[RenderableType] = [body]
    for label, lines in (("traceback into module code", f.traceback),
                         ("allocated by", f.alloc_site), ("freed by", f.free_site)):
        if lines:
            parts += [Text(label, style="bold"), Text("\n".join(lines))]
    return Panel(Group(*parts), title=Text(f.title, style="bold red"), border_style="red")


def outcome_view(outcome: Outcome, name: str, show_log: bool = True) -> RenderableType:
    steps = Table(title=f"{name}: {len(outcome.results)} operations", title_justify="left",
                  show_edge=False, header_style="bold")
    steps.add_column("operation")
    steps.add_column("result")
    for line in outcome.results:
        shown = "(cut short)" if line.result is None else str(line.result)
        steps.add_row(line.op, Text(shown, style="red" if failed(line.result) else ""))
    parts: list[RenderableType] = [steps]
    if show_log and outcome.dmesg:
        parts.append(Panel(Text("\n".join(outcome.dmesg[-60:])), title="dmesg", title_align="left",
                           border_style="dim"))
    if outcome.finding:
        parts.append(finding_panel(outcome.finding))
    else:
        parts.append(Text(f"{name}: no finding (tainted: {outcome.taints})", style="bold green"))
    return Group(*parts)


def modinfo_table(image: ModuleImage, signature: str) -> RenderableType:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    t.add_row("filename", str(image.path))
    t.add_row("name", image.name)
    t.add_row("license", f"{image.license}" + ("" if image.gpl_compatible else "  (taints P)"))
    if image.description:
        t.add_row("description", image.description)
    if image.author:
        t.add_row("author", image.author)
    for p in image.params.values():
        t.add_row("parm", f"{p.name}:{p.desc} ({p.type}, default {p.default!r})")
    for alias in image.aliases:
        t.add_row("alias", alias)
    for dev in image.device_table:
        t.add_row("alias", dev.modalias)
    deps = ", ".join(image.imports)
    t.add_row("imports", deps or "-")
    if image.softdep_pre or image.softdep_post:
        t.add_row("softdep", " ".join((["pre:", *image.softdep_pre] if image.softdep_pre else [])
                                      + (["post:", *image.softdep_post] if image.softdep_post else [])))
    for sym, gpl in image.exports.items():
        t.add_row("export", f"{sym}{' (GPL-only)' if gpl else ''}")
    t.add_row("init/exit", f"{'init' if image.has_init else '-'} / {'exit' if image.has_exit else '-'}"
              + ("  (permanent: no exit)" if image.has_init and not image.has_exit else ""))
    t.add_row("signature", signature)
    return t


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _summary(result: FuzzResult) -> Text:
    rate = result.ops / result.seconds if result.seconds else 0.0
    return Text(f"{result.cases} test cases, {result.ops} operations in {result.seconds:.1f}s "
                f"({rate:,.0f} ops/s), {plural(len(result.records), 'bug')}", style="bold")


def finding_line(target: str, rec: BugRecord) -> str:
    """One bug on one line, for logs: module, kind, title, repro size, reliability, folder."""
    return (f"{target}: {rec.finding.kind}: {rec.finding.title} ({len(rec.ops)} steps, "
            f"reproduced {rec.reproduced}/{rec.replays}) -> {rec.reported or '-'}")


def findings_lines(result: FuzzResult) -> RenderableType:
    """The end of a fuzz run when not on a terminal: lines that do not wrap."""
    lines = [finding_line(target, rec) for target, rec in result.records] or ["no finding"]
    return Group(_summary(result), *(Text(line) for line in lines))


def findings_table(result: FuzzResult) -> RenderableType:
    """The end of a fuzz run: one row per bug, with its report folder."""
    summary = _summary(result)
    if not result.records:
        return Group(summary, Text("no finding", style="bold green"))
    table = Table(show_edge=False, header_style="bold")
    for col in ("module", "kind", "title", "steps", "reproduced", "report"):
        table.add_column(col)
    for target, rec in result.records:
        table.add_row(target, rec.finding.kind, Text(rec.finding.title, style="red"), str(len(rec.ops)),
                      f"{rec.reproduced}/{rec.replays}", str(rec.reported or "-"))
    return Group(summary, table)
