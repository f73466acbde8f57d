"""Parsing `.kfz` text: every error names the file, the line and what was expected."""

from __future__ import annotations

import glob
import re
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from cryptography.exceptions import UnsupportedAlgorithm

from ..kernel.sched import GROUP_TASKS, Preempt
from ..kernel.signing import load_public
from ..textfile import LINE_BREAK, Unreadable, one_line, read_text, shorten
from .args import NAME, Mismatch
from .ops import SPECS, VERBS, OpSpec, Props, usage
from .program import SETTINGS, Group, Op, Program
from .values import ArgValue, format_data, parse_data

__all__ = ["ProgramError", "format_data", "load_program", "parse_data", "parse_program"]

FAULT = re.compile(r"\(fail_nth:\s*(\S+?)\)\s*$")  # matched at the last '(fail_nth' only
CHECKS = ("python-leak",)
HOLDS = {"fd": "an open file (fdN)", "dev": "a device (devN)"}
TASK_LINE = re.compile(r"t(\d+):\s*(.*)$")  # a task of a `together` group
PREEMPT = re.compile(r"t(\d+)\s+at\s+([A-Za-z_][A-Za-z0-9_]*)(?:#(\d+))?\s*->\s*t(\d+)$")
MIN_TASKS = 2


class ProgramError(Exception):
    """A `.kfz` that cannot be run; nothing of it has been run. One line:
    `FILE:LINE: what was wrong and expected`, no LINE where it is the whole file."""

    def __init__(self, where: str, lineno: int, message: str, fix: str = ""):
        self.where, self.lineno, self.message, self.fix = where, lineno, message, fix
        text = f"{where}:{lineno}: " if lineno else f"{where}: "
        super().__init__(one_line(text + shorten(message) + (f"; fix: {fix}" if fix else "")))


def split_comment(text: str) -> tuple[str, str]:
    """An operation and the `# comment` after it (a `#` inside a quoted string is data)."""
    i, quoted = 0, False
    while i < len(text):
        c = text[i]
        if quoted and c == "\\":
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == "#" and not quoted and (i == 0 or text[i - 1].isspace()):
            return text[:i].rstrip(), text[i:].rstrip()
        i += 1
    return text, ""


def tokenize(text: str) -> list[str]:
    """Whitespace-separated tokens; a quoted string is one token."""
    tokens, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        if text[i] == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= len(text):
                raise ValueError('unterminated string: end it with "')
            tokens.append(text[i:j + 1])
            i = j + 1
            continue
        j = i
        while j < len(text) and not text[j].isspace():
            j += 1
        tokens.append(text[i:j])
        i = j
    return tokens


class _Parser:
    def __init__(self, where: str, check_refs: bool = True):
        self.where = where
        self.check_refs = check_refs
        self.bound: dict[str, str] = {}  # name -> the resource it holds

    def fail(self, lineno: int, message: str) -> NoReturn:
        raise ProgramError(self.where, lineno, message)

    def op(self, text: str, lineno: int) -> Op:
        text, comment = split_comment(text)
        return replace(self.operation(text, lineno), comment=comment)

    def operation(self, text: str, lineno: int, in_group: int = 0) -> Op:
        fail_nth = None
        at = text.rfind("(fail_nth")  # then a match there: a search would be quadratic in spaces
        m = FAULT.match(text, at) if at >= 0 else None
        if m:
            try:
                fail_nth = int(m.group(1))
            except ValueError:
                fail_nth = 0
            if fail_nth < 1:
                self.fail(lineno, f"fail_nth takes a positive integer, not '{m.group(1)}'")
            text = text[:m.start()].rstrip()
        elif "(fail_nth" in text:
            self.fail(lineno, "'(fail_nth: N)' must come last on the line")
        try:
            tokens = tokenize(text)
        except ValueError as err:
            self.fail(lineno, str(err))
        nobody = tokens[:2] == ["as", "nobody"]
        if nobody:
            tokens = tokens[2:]
        elif tokens and tokens[0] == "as":
            self.fail(lineno, "expected 'as nobody OPERATION'")
        bind = None
        if "->" in tokens:
            at = tokens.index("->")
            if at != len(tokens) - 2 or not NAME.match(tokens[-1]):
                self.fail(lineno, "expected '-> name' at the end of the operation")
            bind = tokens[-1]
            tokens = tokens[:at]
        if not tokens:
            self.fail(lineno, "expected an operation")
        spec = SPECS.get(" ".join(tokens[:2])) if len(tokens) > 1 else None
        spec = spec or SPECS.get(tokens[0])
        if spec is None:
            self.fail(lineno, f"unknown operation '{tokens[0]}' (expected one of {', '.join(VERBS)})")
        if bind and not spec.binds:
            self.fail(lineno, f"'{spec.verb}' creates nothing to name with '->'")
        if spec.group_only and not in_group:
            self.fail(lineno, f"'{spec.verb}' is only for a task of a 'together' group "
                              f"(`  t2: {spec.usage}`)")
        for prop, given in (("fail_nth", fail_nth), ("nobody", nobody)):
            if given and prop not in spec.props:
                self.fail(lineno, f"'{spec.verb}' takes no {prop}")
        args = self.args(spec, tokens[len(spec.verb.split()):], lineno)
        op = Op(spec.verb, args, bind, Props(fail_nth, nobody), lineno)
        for ref in op.refs() if self.check_refs else ():
            held = self.bound.get(ref.name)
            if held is None:
                self.fail(lineno, f"'{ref.name}' is not defined by an earlier '-> {ref.name}'")
            if held != ref.resource:
                self.fail(lineno, f"'{ref.name}' is {HOLDS[held]}, and '{spec.verb}' takes "
                                  f"{HOLDS[ref.resource]}")
        if bind and spec.binds:
            self.bound[bind] = spec.binds
        return op

    def group(self, lines: list[str], at: int) -> tuple[Group, int]:
        """`together`, its task lines `tN: OPERATION`, and an optional `schedule:` line;
        the index of the line after it."""
        lineno = at + 1
        comment = split_comment(lines[at].strip())[1]
        before = dict(self.bound)
        tasks: list[Op] = []
        i = at + 1
        while i < len(lines):
            text, _ = split_comment(lines[i].strip())
            m = TASK_LINE.match(text)
            if not m:
                break
            n = int(m.group(1))
            if n != len(tasks) + 1:
                self.fail(i + 1, f"task 't{n}' out of order; fix: number the tasks of a group "
                                 f"t1, t2, ... in order (expected 't{len(tasks) + 1}:')")
            self.bound = dict(before)  # a task cannot use what another task of the group binds
            op = self.operation(m.group(2), i + 1, in_group=len(tasks) + 1)
            tasks.append(op)
            i += 1
        self.bound = before
        names = [name for op in tasks for name, _ in op.binds()]
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice:
            self.fail(lineno, f"two tasks of the group bind '{twice}'; fix: give each its own name")
        for op in tasks:
            target = str(op.args[0]) if op.spec.group_only else ""
            if target and int(target[1:]) > len(tasks):
                self.fail(op.lineno, f"'{target}' is not a task of this group (t1 to t{len(tasks)})")
            self.bound.update(op.binds())
        if not MIN_TASKS <= len(tasks) <= GROUP_TASKS:
            self.fail(lineno, f"'together' takes {MIN_TASKS} to {GROUP_TASKS} task lines "
                              f"(`  t1: OPERATION`), not {len(tasks)}")
        schedule: tuple[Preempt, ...] = ()
        if i < len(lines) and split_comment(lines[i].strip())[0].startswith("schedule:"):
            schedule = self.schedule(split_comment(lines[i].strip())[0], i + 1, len(tasks))
            i += 1
        return Group(tasks=tuple(tasks), schedule=schedule, lineno=lineno, comment=comment), i

    def schedule(self, text: str, lineno: int, ntasks: int) -> tuple[Preempt, ...]:
        """`schedule: t1 at CALL[#N] -> t2, ...`: preemptions over the default order."""
        body = text.partition(":")[2].strip()
        out: list[Preempt] = []
        for part in (p.strip() for p in body.split(",")) if body else ():
            m = PREEMPT.match(part)
            if not m:
                self.fail(lineno, f"bad preemption '{part}'; fix: write 'tN at CALL -> tM' or "
                                  f"'tN at CALL#K -> tM' (the K-th call of CALL by task N)")
            task, call, nth, to = int(m.group(1)), m.group(2), int(m.group(3) or 1), int(m.group(4))
            for n in (task, to):
                if not 1 <= n <= ntasks:
                    self.fail(lineno, f"'t{n}' is not a task of this group (t1 to t{ntasks})")
            if task == to or nth < 1:
                self.fail(lineno, f"bad preemption '{part}': a task preempts itself, or #0")
            out.append(Preempt(task, call, nth, to))
        return tuple(out)

    def args(self, spec: OpSpec, tokens: list[str], lineno: int) -> tuple[ArgValue, ...]:
        expected = f"expected '{usage(spec.verb.split()[0])}'"
        values, i = [], 0
        try:
            for kind in spec.args:
                value, i = kind.parse(tokens, i)
                values.append(value)
            if i != len(tokens):
                raise Mismatch()
        except Mismatch:
            self.fail(lineno, expected)
        except ValueError as err:
            self.fail(lineno, f"{err}; {expected}")
        return tuple(values)

    def locate(self, word: str, what: str, lineno: int, base_dir: Path,
               module_path: Path | None = None) -> Path:
        """A path of the header: the repro's folder, then the current directory, then
        the module path. A file of that name beside the repro comes first: whoever
        mails or copies a report folder with its module (perhaps fixed) means that one."""
        path = Path(word)
        places = [base_dir / path.name, base_dir / path, path, Path(path.name)]
        if module_path is not None and path.name not in ("", ".", ".."):
            places += [module_path / path.name, *_found_under(module_path, path.name)]
        for place in places:
            if _is_file(place):
                return place
        also = f", or {module_path}" if module_path is not None else ", or pass --module-path FOLDER"
        self.fail(lineno, f"{what} '{word}' not found (looked beside the repro file, in the "
                          f"current directory{also})")

    def header(self, prog: Program, text: str, lineno: int, base_dir: Path,
               module_path: Path | None) -> None:
        body = text[1:].strip()
        key, sep, value = body.partition(":")
        if not sep or key.strip() not in ("modules", "kernel", "check"):
            return
        if key.strip() == "check":
            for word in value.split():
                if word not in CHECKS:
                    self.fail(lineno, f"unknown check '{word}' (known: {', '.join(CHECKS)})")
                prog.checks.append(word)
            return
        if key.strip() == "modules":
            for word in value.split():
                prog.modules.append(self.locate(word, "module file", lineno, base_dir, module_path))
            return
        for word in value.split():
            name, eq, val = word.partition("=")
            if not eq or name not in SETTINGS:
                self.fail(lineno, f"bad kernel setting '{word}' (expected NAME=VALUE, NAME one of "
                                  f"{', '.join(SETTINGS)})")
            if name != "keyring" and val not in ("0", "1"):
                self.fail(lineno, f"kernel setting {name} is 0 or 1, not '{val}'")
            if name == "keyring":
                keyfile = self.locate(val, "keyring file", lineno, base_dir)
                try:
                    load_public(keyfile)
                except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
                    self.fail(lineno, f"keyring file '{val}' is not an Ed25519 public key in PEM "
                                      f"form ({exc}); make one with `kfuzz keygen`")
                val = str(keyfile)
            prog.settings[name] = val


def parse_program(text: str, base_dir: Path | None = None, where: str = "<program>",
                  module_path: Path | None = None) -> Program:
    """Reads a program; a line it cannot read is a ProgramError naming it."""
    base_dir = Path(base_dir) if base_dir else Path.cwd()
    parser = _Parser(where)
    prog = Program()
    lines = LINE_BREAK.split(text)  # not splitlines(): a form feed or U+2028 ends no line in an editor
    if not lines[-1]:
        lines.pop()
    i = 0
    while i < len(lines):
        raw, lineno = lines[i], i + 1
        stripped = raw.strip()
        i += 1
        if not stripped or stripped.startswith("#"):
            if stripped.startswith("#"):
                parser.header(prog, stripped, lineno, base_dir, module_path)
            prog.lines.append(raw.rstrip())
            continue
        if split_comment(stripped)[0] == "together":
            group, i = parser.group(lines, i - 1)
            prog.lines.append(group)
            continue
        prog.lines.append(parser.op(stripped, lineno))
    prog.lines = name_unnamed(prog.lines)
    return prog


def name_unnamed(lines: list[Op | str]) -> list[Op | str]:
    """Gives a name to each operation whose `-> name` was left out, one no line uses."""
    ops = [op for line in lines if isinstance(line, Op) for op in line.serial()]
    taken = {op.bind for op in ops if op.bind}
    counts: dict[str, int] = {}

    def named(op: Op) -> Op:
        if not op.spec.binds or op.bind:
            return op
        resource = op.spec.binds
        n = counts.get(resource, 0)
        while f"{resource}{n}" in taken:
            n += 1
        counts[resource] = n + 1
        taken.add(f"{resource}{n}")
        return replace(op, bind=f"{resource}{n}")

    out: list[Op | str] = []
    for line in lines:
        if isinstance(line, Group):
            line = replace(line, tasks=tuple(named(op) for op in line.tasks))
        elif isinstance(line, Op):
            line = named(line)
        out.append(line)
    return out


def parse_op(text: str) -> Op:
    """One operation line, for code and tests that build programs by hand: the names
    it uses are taken as bound, with the resource the operation expects."""
    parser = _Parser("<op>", check_refs=False)
    lines = LINE_BREAK.split(text.strip())
    if split_comment(lines[0])[0] == "together":
        group, _ = parser.group(lines, 0)
        return group
    op = parser.op(text, 0)
    return replace(op, bind=f"{op.spec.binds}0") if op.spec.binds and not op.bind else op


def load_program(path: Path, module_path: Path | None = None) -> Program:
    """Reads a repro file: a regular UTF-8 file of at most 1 MiB with an operation in it."""
    path = Path(path)
    try:
        text = read_text(path, "repro file")
    except Unreadable as err:
        raise ProgramError(str(path), err.lineno, err.message, err.fix) from None
    prog = parse_program(text, path.parent, str(path), module_path)
    if not prog.ops:
        raise ProgramError(str(path), 0, "no operations (an empty or truncated repro?)",
                           "write one operation a line, such as `insmod NAME`")
    prog.path = path
    return prog


def _is_file(place: Path) -> bool:
    try:
        return place.is_file()
    except (OSError, ValueError):  # a name too long, a folder that is not readable
        return False


def _found_under(folder: Path, name: str) -> list[Path]:
    """Files named NAME anywhere under FOLDER (the name is a name, not a pattern)."""
    try:
        return sorted(folder.rglob(glob.escape(name)))
    except (OSError, ValueError):
        return []
