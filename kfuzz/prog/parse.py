"""Parsing `.kfz` text: every error names the file, the line and what was expected."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from ..kernel.device import parse_device_id
from ..kernel.signing import load_public
from .program import BINDS, SETTINGS, VERBS, Op, Program

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
MODNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*$")
PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=\S*$")
FAULT = re.compile(r"\s*\(fail_nth:\s*(\S+?)\)\s*$")
SYSCTLS = ("kernel.modules_disabled", "kernel.panic_on_warn")
CHECKS = ("python-leak",)


class ProgramError(Exception):
    """A `.kfz` that cannot be run; nothing of it has been run."""

    def __init__(self, where: str, lineno: int, message: str):
        self.where, self.lineno, self.message = where, lineno, message
        super().__init__(f"{where}:{lineno}: {message}")


def parse_int(text: str) -> int:
    return int(text, 0)


def parse_data(text: str) -> bytes:
    """`"quoted"` with backslash escapes, or `x'68656c6c6f'`."""
    if text.startswith("x'") and text.endswith("'") and len(text) >= 3:
        return bytes.fromhex(text[2:-1])
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1")
    raise ValueError(text)


def format_data(data: bytes) -> str:
    if all(32 <= b < 127 and b not in b'"\\' for b in data):
        return f'"{data.decode()}"'
    return f"x'{data.hex()}'"


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
                raise ValueError("unterminated string")
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
    def __init__(self, where: str):
        self.where = where
        self.bound: set[str] = set()

    def fail(self, lineno: int, message: str) -> None:
        raise ProgramError(self.where, lineno, message)

    def op(self, text: str, lineno: int) -> Op:
        text, comment = split_comment(text)
        return replace(self.operation(text, lineno), comment=comment)

    def operation(self, text: str, lineno: int) -> Op:
        fail_nth = None
        m = FAULT.search(text)
        if m:
            try:
                fail_nth = int(m.group(1))
            except ValueError:
                fail_nth = 0
            if fail_nth < 1:
                self.fail(lineno, f"fail_nth takes a positive integer, not '{m.group(1)}'")
            text = text[:m.start()]
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
        verb, args = tokens[0], tokens[1:]
        if verb not in VERBS:
            self.fail(lineno, f"unknown operation '{verb}' (expected one of {', '.join(VERBS)})")
        if BINDS.get(verb) and not bind:
            self.fail(lineno, f"'{verb}' names what it creates: add '-> name'")
        if bind and not BINDS.get(verb):
            self.fail(lineno, f"'{verb}' creates nothing to name with '->'")
        problem = self.check_args(verb, args)
        if problem:
            self.fail(lineno, problem)
        op = Op(verb, tuple(args), bind, fail_nth, nobody, lineno)
        for name in op.uses():
            if name not in self.bound:
                self.fail(lineno, f"'{name}' is not defined by an earlier '-> {name}'")
        if bind:
            self.bound.add(bind)
        return op

    def check_args(self, verb: str, args: list[str]) -> str | None:
        usage = {
            "insmod": "insmod NAME [key=value ...]", "rmmod": "rmmod NAME [-f]",
            "modprobe": "modprobe NAME [key=value ...] or modprobe -r NAME",
            "plug": "plug BUS ID -> devN", "unplug": "unplug devN", "open": "open PATH -> fdN",
            "read": "read fdN COUNT", "write": "write fdN DATA", "ioctl": "ioctl fdN CMD ARG",
            "close": "close fdN", "irq": "irq N or irq devN", "tick": "tick N",
            "suspend": "suspend", "sysctl": "sysctl NAME VALUE",
        }[verb]
        try:
            ok = self._args_ok(verb, args)
        except ValueError as err:
            return f"{err}; expected '{usage}'"
        return None if ok else f"expected '{usage}'"

    def _args_ok(self, verb: str, args: list[str]) -> bool:
        n = len(args)
        if verb in ("insmod", "modprobe"):
            if verb == "modprobe" and args[:1] == ["-r"]:
                return n == 2 and bool(MODNAME.match(args[1]))
            if n < 1 or not MODNAME.match(args[0]):
                return False
            for p in args[1:]:
                if not PARAM.match(p):
                    raise ValueError(f"bad parameter '{p}', parameters are key=value")
            return True
        if verb == "rmmod":
            return 1 <= n <= 2 and bool(MODNAME.match(args[0])) and args[1:] in ([], ["-f"])
        if verb == "plug":
            if n != 2:
                return False
            parse_device_id(args[0], args[1])
            return True
        if verb in ("unplug", "close"):
            return n == 1 and bool(NAME.match(args[0]))
        if verb == "open":
            return n == 1 and args[0].startswith(("/dev/", "/proc/"))
        if verb == "read":
            return n == 2 and NAME.match(args[0]) is not None and _nonneg(args[1])
        if verb == "write":
            if n != 2 or not NAME.match(args[0]):
                return False
            try:
                parse_data(args[1])
            except ValueError:
                raise ValueError(f"bad DATA {args[1]}: write a quoted string or x'hex'") from None
            return True
        if verb == "ioctl":
            return n == 3 and NAME.match(args[0]) is not None and _int(args[1]) and _int(args[2])
        if verb == "irq":
            return n == 1 and (_nonneg(args[0]) or NAME.match(args[0]) is not None)
        if verb == "tick":
            return n == 1 and _nonneg(args[0])
        if verb == "suspend":
            return n == 0
        if verb == "sysctl":
            if n != 2:
                return False
            if args[0] not in SYSCTLS:
                raise ValueError(f"unknown sysctl '{args[0]}' (known: {', '.join(SYSCTLS)})")
            return args[1] in ("0", "1")
        return False

    def locate(self, word: str, what: str, lineno: int, base_dir: Path) -> Path:
        """A path of the header: relative to the repro file, else to the current directory."""
        path = Path(word)
        if not path.is_absolute():
            near = base_dir / path
            path = near if near.exists() or not path.exists() else path
        if not path.exists():
            self.fail(lineno, f"{what} '{word}' not found (paths are relative to the "
                              f"repro file or the current directory)")
        return path

    def header(self, prog: Program, text: str, lineno: int, base_dir: Path) -> None:
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
                prog.modules.append(self.locate(word, "module file", lineno, base_dir))
            return
        for word in value.split():
            name, eq, val = word.partition("=")
            if not eq or name not in SETTINGS:
                self.fail(lineno, f"bad kernel setting '{word}' (expected NAME=VALUE, NAME one of "
                                  f"{', '.join(SETTINGS)})")
            if name != "keyring" and val not in ("0", "1"):
                self.fail(lineno, f"kernel setting {name} is 0 or 1, not '{val}'")
            if name == "keyring":
                key = self.locate(val, "keyring file", lineno, base_dir)
                try:
                    load_public(key)
                except (OSError, ValueError) as exc:
                    self.fail(lineno, f"keyring file '{val}' is not an Ed25519 public key in PEM "
                                      f"form ({exc}); make one with `kfuzz keygen`")
                val = str(key)
            prog.settings[name] = val


def _int(text: str) -> bool:
    try:
        parse_int(text)
        return True
    except ValueError:
        return False


def _nonneg(text: str) -> bool:
    return _int(text) and parse_int(text) >= 0


def parse_program(text: str, base_dir: Path | None = None, where: str = "<program>") -> Program:
    base_dir = Path(base_dir) if base_dir else Path.cwd()
    parser = _Parser(where)
    prog = Program()
    for lineno, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            if stripped.startswith("#"):
                parser.header(prog, stripped, lineno, base_dir)
            prog.lines.append(raw.rstrip())
            continue
        prog.lines.append(parser.op(stripped, lineno))
    return prog


def load_program(path: Path) -> Program:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ProgramError(str(path), 0, f"cannot read: {err}") from None
    prog = parse_program(text, path.parent, str(path))
    prog.path = path
    return prog
