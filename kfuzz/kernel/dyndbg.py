"""Dynamic debug (lib/dynamic_debug.c): which pr_debug and dev_dbg call sites print.

Every call site is off until a query turns it on. A module takes its queries at load
as the pseudo-parameter `dyndbg` (`insmod mod dyndbg=+p`; ddebug_dyndbg_module_param_cb),
kept on the loaded `Module`, so a new load starts with all sites off again; the kernel
setting `dyndbg=1` turns every site on. A query is `[match-spec value]... flags`:
match-specs `func`, `file`, `line`, `module`, `format`; flags `[-+=][pmflt_]*`. A bad
query is logged (pr_err with pr_fmt "dyndbg: ") and does not stop the load.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass

from .frames import Site

FLAG_CHARS = "pmflt_"  # _DPRINTK_FLAGS_PRINT, INCL_MODNAME, INCL_FUNCNAME, INCL_LINENO, INCL_TID, none
KEYWORDS = ("func", "file", "module", "format", "line")
MAXWORDS = 9


class QueryError(ValueError):
    """A query ddebug_exec_query refuses: the lines it logs."""


@dataclass(frozen=True)
class Query:
    """One parsed query: what it matches and how it changes the flags of what it matches."""

    spec: tuple[tuple[str, str], ...]
    op: str
    flags: frozenset[str]

    def matches(self, site: Site, fmt: str) -> bool:
        for key, value in self.spec:
            if key == "func" and not fnmatch.fnmatchcase(site.function, value):
                return False
            if key == "module" and not fnmatch.fnmatchcase(site.module, value):
                return False
            if key == "file" and not (fnmatch.fnmatchcase(site.filename, value)
                                      or fnmatch.fnmatchcase(os.path.basename(site.filename), value)):
                return False
            if key == "format" and value not in fmt:
                return False
            if key == "line":
                first, dash, last = value.partition("-")  # parse_linerange: "" is "any"
                lo = int(first or 0)
                hi = (int(last) if last else 1 << 32) if dash else lo
                if hi and not lo <= site.lineno <= hi:
                    return False
        return True

    def apply(self, flags: frozenset[str]) -> frozenset[str]:
        """ddebug_parse_flags' op: `+` adds, `-` removes, `=` sets."""
        if self.op == "+":
            return flags | self.flags
        if self.op == "-":
            return flags - self.flags
        return self.flags


def _parse_flags(word: str) -> tuple[str, frozenset[str]]:
    if word[:1] not in ("+", "-", "="):
        raise QueryError(f"bad flag-op {word[:1]}, at start of {word}", "flags parse failed")
    for c in word[1:]:
        if c not in FLAG_CHARS:
            raise QueryError(f"unknown flag '{c}'", "flags parse failed")
    return word[0], frozenset(word[1:]) - {"_"}


def _parse_spec(words: list[str]) -> tuple[tuple[str, str], ...]:
    if len(words) % 2:
        raise QueryError("expecting pairs of match-spec <value>", "query parse failed")
    spec: list[tuple[str, str]] = []
    for key, value in zip(words[::2], words[1::2], strict=True):
        if key not in KEYWORDS:
            raise QueryError(f'unknown keyword "{key}"', "query parse failed")
        if key == "line" and not all(p.isdigit() or p == "" for p in value.split("-", 1)):
            raise QueryError(f"bad line-number: {value}", "query parse failed")
        if any(k == key for k, _ in spec):
            raise QueryError(f"match-spec:{key} val:{dict(spec)[key]} overridden by {value}",
                             "query parse failed")
        spec.append((key, value))
    return tuple(spec)


def parse_query(text: str) -> Query:
    """ddebug_exec_query: the flags are the last word, the match-spec pairs before it."""
    words = text.split()
    if not words:
        raise QueryError("tokenize failed")
    if len(words) > MAXWORDS:
        raise QueryError(f"too many words, legal max <={MAXWORDS}", "tokenize failed")
    op, flags = _parse_flags(words[-1])
    return Query(_parse_spec(words[:-1]), op, flags)


def parse_queries(text: str) -> tuple[list[Query], list[str]]:
    """ddebug_exec_queries: queries split at `;` or a newline, each on its own; the good
    ones and the pr_err lines of the bad ones (a bad one does not stop the others)."""
    good: list[Query] = []
    errors: list[str] = []
    for part in text.replace("\n", ";").split(";"):
        part = part.strip()
        if not part or part.startswith("#"):
            continue
        try:
            good.append(parse_query(part))
        except QueryError as err:
            errors += [f"dyndbg: {line}" for line in err.args]
    return good, errors


def site_flags(queries: list[Query], site: Site, fmt: str, all_on: bool) -> frozenset[str]:
    """The flags of one call site: every query that matches it, applied in order."""
    flags = frozenset("p") if all_on else frozenset()
    for q in queries:
        if q.matches(site, fmt):
            flags = q.apply(flags)
    return flags


def prefix(flags: frozenset[str], site: Site, pid: int, in_interrupt: bool) -> str:
    """dynamic_emit_prefix: `[pid] module:function:line: ` as the flags ask."""
    tid = ("<intr> " if in_interrupt else f"[{pid}] ") if "t" in flags else ""
    parts = [value for flag, value in (("m", site.module), ("f", site.function),
                                       ("l", str(site.lineno))) if flag in flags]
    return tid + ("".join(f"{p}:" for p in parts) + " " if parts else "")

