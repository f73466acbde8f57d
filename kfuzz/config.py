"""A project's kfuzz settings: `[tool.kfuzz]` in its pyproject.toml, read once and checked.

The nearest pyproject.toml from the current directory upwards is the project's;
paths in it are relative to its folder. Every value is checked here, so a bad one
is one line naming the file, the key and the fix before anything runs; an unknown
key is named with the known key nearest to it (a typo should not be ignored).
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm

from .kernel.signing import load_public
from .prog.program import SETTINGS

PYPROJECT = "pyproject.toml"


class ConfigError(ValueError):
    """A pyproject.toml that kfuzz cannot use: one line, `FILE: [TABLE] KEY: what and the fix`."""


@dataclass(frozen=True)
class Suppression:
    """A known finding: its exact title, and why it is accepted for now."""

    title: str
    reason: str


@dataclass
class Config:
    """The checked contents of `[tool.kfuzz]`; empty when there is no pyproject.toml or no table."""

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)  # [tool.kfuzz] keys, paths resolved
    kernel: dict[str, str] = field(default_factory=dict)  # as a `# kernel:` header spells them
    suppress: list[Suppression] = field(default_factory=list)

    @property
    def where(self) -> str:
        return shown(self.path) if self.path else PYPROJECT


def shown(path: Path) -> str:
    """A path as the user would type it: relative to the current directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# -- checking one value -------------------------------------------------------------------------

Check = Callable[[Any, Path], Any]  # (value, the pyproject's folder) -> the value to use


class Bad(Exception):
    """A value that is not what its key takes: the text after 'expected'."""


def _number(least: float, what: str) -> Check:
    def check(value: Any, base: Path) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise Bad(what)
        if value < least:
            raise Bad(f"{what} of at least {least}")
        return float(value)
    return check


def _integer(least: int | None, what: str) -> Check:
    def check(value: Any, base: Path) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Bad(what)
        if least is not None and value < least:
            raise Bad(f"{what} of at least {least}")
        return value
    return check


def _choice(*choices: str) -> Check:
    def check(value: Any, base: Path) -> str:
        if value not in choices:
            raise Bad(" or ".join(repr(c) for c in choices))
        return str(value)
    return check


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Bad(what)
    return value


def _folder(value: Any, base: Path) -> Path:
    path = base / _text(value, "a folder (a path relative to the pyproject.toml's folder)")
    if not path.is_dir():
        raise Bad(f"an existing folder, and {path} is none")
    return path


def _place(value: Any, base: Path) -> Path:
    return base / _text(value, "a folder (a path relative to the pyproject.toml's folder)")


def _targets(value: Any, base: Path) -> list[Path]:
    what = 'a list of module files or folders, such as ["modules/"]'
    if not isinstance(value, list) or not value:
        raise Bad(what)
    paths = [base / _text(v, what) for v in value]
    for path in paths:
        if not path.exists():
            raise Bad(f"{what}, and {path} does not exist")
    return paths


def _flag(value: Any, base: Path) -> bool:
    if isinstance(value, bool):
        return value
    raise Bad("true or false")


def _switch(value: Any, base: Path) -> str:
    if value in (True, 1, "1"):
        return "1"
    if value in (False, 0, "0"):
        return "0"
    raise Bad("true or false")


def _keyring(value: Any, base: Path) -> str:
    path = base / _text(value, "a public key file (the signing_key.pub that kfuzz keygen wrote)")
    try:
        load_public(path)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        raise Bad(f"an Ed25519 public key file, and {path} is none (make one with `kfuzz keygen`)") from None
    return str(path)


@dataclass(frozen=True)
class Key:
    check: Check
    doc: str


# [tool.kfuzz]: each key named after the flag it gives a default for
KEYS: dict[str, Key] = {
    "module_path": Key(_folder, "folder of the modules the targets depend on"),
    "targets": Key(_targets, "module files or folders fuzzed when none are given"),
    "time_budget": Key(_number(0.1, "a number of seconds"), "seconds for the whole run"),
    "max_examples": Key(_integer(1, "a whole number of test cases"), "test cases per target module"),
    "seed": Key(_integer(None, "a whole number"), "the seed"),
    "workers": Key(_integer(1, "a whole number of worker processes"), "worker processes"),
    "steps": Key(_integer(1, "a whole number of operations"), "operations per test case at most"),
    "op_timeout": Key(_number(0.01, "a number of seconds"), "seconds an operation may run"),
    "isolation": Key(_choice("fork", "inprocess"), "fork or inprocess"),
    "reports": Key(_place, "where report folders are written"),
    "groups": Key(_flag, "draw concurrent groups (races) in part of the test cases"),
}
# [tool.kfuzz.kernel]: the settings of a repro's `# kernel:` header
KERNEL_KEYS: dict[str, Check] = {name: (_keyring if name == "keyring" else _switch) for name in SETTINGS}
SUPPRESS_KEYS = ("title", "reason")
TABLES = ("kernel", "suppress")


def _unknown(where: str, key: str, known: list[str]) -> ConfigError:
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    fix = f"did you mean {near[0]}?" if near else f"known keys: {', '.join(known)}"
    return ConfigError(f"{where} {key}: unknown key; {fix}")


def _checked(where: str, key: str, check: Check, value: Any, base: Path) -> Any:
    try:
        return check(value, base)
    except Bad as bad:
        raise ConfigError(f"{where} {key}: expected {bad}, got {value!r}") from None


def parse_config(data: dict[str, Any], path: Path) -> Config:
    """The checked `[tool.kfuzz]` of a parsed pyproject.toml at PATH."""
    file = shown(path)
    table = data.get("tool", {}).get("kfuzz") if isinstance(data.get("tool"), dict) else None
    config = Config(path)
    if table is None:
        return config
    if not isinstance(table, dict):
        raise ConfigError(f"{file}: tool.kfuzz: expected a table ([tool.kfuzz]), got {table!r}")
    base = path.parent
    for key, value in table.items():
        if key == "kernel":
            config.kernel = _kernel(file, value, base)
        elif key == "suppress":
            config.suppress = _suppressions(file, value)
        elif key in KEYS:
            config.values[key] = _checked(f"{file}: [tool.kfuzz]", key, KEYS[key].check, value, base)
        else:
            raise _unknown(f"{file}: [tool.kfuzz]", key, [*KEYS, *TABLES])
    return config


def _kernel(file: str, table: Any, base: Path) -> dict[str, str]:
    where = f"{file}: [tool.kfuzz.kernel]"
    if not isinstance(table, dict):
        raise ConfigError(f"{file}: [tool.kfuzz] kernel: expected a table ([tool.kfuzz.kernel]), "
                          f"got {table!r}")
    out = {}
    for key, value in table.items():
        if key not in KERNEL_KEYS:
            raise _unknown(where, key, list(KERNEL_KEYS))
        out[key] = _checked(where, key, KERNEL_KEYS[key], value, base)
    return out


def _suppressions(file: str, entries: Any) -> list[Suppression]:
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{file}: [tool.kfuzz] suppress: expected [[tool.kfuzz.suppress]] entries, "
                          f"each with a title and a reason, got {entries!r}")
    out = []
    for n, entry in enumerate(entries, 1):
        where = f"{file}: [[tool.kfuzz.suppress]] entry {n}"
        for key in entry:
            if key not in SUPPRESS_KEYS:
                raise _unknown(where, key, list(SUPPRESS_KEYS))
        for key in SUPPRESS_KEYS:
            if key not in entry:
                raise ConfigError(f"{where}: no {key}; give the finding's exact title and the reason "
                                  f"it is accepted")
        title = _checked(where, "title", _title, entry["title"], Path())
        reason = _checked(where, "reason", _reason, entry["reason"], Path())
        out.append(Suppression(title, reason))
    return out


def _title(value: Any, base: Path) -> str:
    return _text(value, "the finding's exact title, as its report.json has it")


def _reason(value: Any, base: Path) -> str:
    return _text(value, "a few words on why the finding is accepted for now")


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml in START (the current directory) or a folder above it."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PYPROJECT
        if candidate.is_file():
            return candidate
    return None


def load_config(start: Path | None = None) -> Config:
    """The project's configuration: that of the nearest pyproject.toml, or an empty one."""
    path = find_pyproject(start)
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{shown(path)}: cannot be read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{shown(path)}: not UTF-8 text; save it as UTF-8") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{shown(path)}: not valid TOML: {err}; fix the syntax there") from None
    return parse_config(data, path)
