"""The documentation cannot fall behind the code silently.

Every name `kfuzz.kapi` exports (its `__all__`) must appear as code in
docs/module-api.md, every operation of the table (its usage, as a parse error
quotes it) in docs/repro-format.md, and every `kfz` example of that page must
still parse (module paths relative to the repository root). A name added to the
kernel is documented in the same change.
"""

from __future__ import annotations

import re
from pathlib import Path

import kfuzz.kapi as kapi
from kfuzz.prog.ops import TABLE
from kfuzz.prog.parse import parse_program

ROOT = Path(__file__).resolve().parent.parent
MODULE_API = ROOT / "docs" / "module-api.md"
REPRO_FORMAT = ROOT / "docs" / "repro-format.md"

FENCED = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"(`+)((?:(?!\1).)+?)\1", re.S)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def code_of(text: str) -> list[str]:
    """The page's code: fenced blocks and inline code spans."""
    blocks = [m.group(2) for m in FENCED.finditer(text)]
    rest = FENCED.sub("", text)
    return blocks + [m.group(2) for m in INLINE_CODE.finditer(rest)]


def names_in_code(text: str) -> set[str]:
    return {word for code in code_of(text) for word in IDENTIFIER.findall(code)}


def public_names() -> set[str]:
    """kapi's `__all__`, less what is no Python name: under pytest, kfuzz's modules are
    rewritten for assertions (kfuzz is a pytest plugin), which gives kapi the globals
    `@py_builtins` and `@pytest_ar`, and `__all__` is computed from `dir()`."""
    return {name for name in kapi.__all__ if name.isidentifier()}


def test_every_kapi_name_is_in_module_api_md() -> None:
    documented = names_in_code(MODULE_API.read_text(encoding="utf-8"))
    missing = sorted(public_names() - documented)
    assert missing == [], f"document these kfuzz.kapi names in docs/module-api.md: {missing}"


def test_every_operation_is_in_repro_format_md() -> None:
    code = set(code_of(REPRO_FORMAT.read_text(encoding="utf-8")))
    # a table cell escapes its `|` (irq N|devN)
    code |= {c.replace("\\|", "|") for c in code}
    missing = [spec.usage for spec in TABLE if spec.usage not in code]
    assert missing == [], f"document these operations in docs/repro-format.md: {missing}"


def test_every_kfz_example_of_repro_format_md_parses() -> None:
    blocks = [m.group(2) for m in FENCED.finditer(REPRO_FORMAT.read_text(encoding="utf-8"))
              if m.group(1) == "kfz"]
    assert blocks
    for block in blocks:
        prog = parse_program(block, ROOT, "docs/repro-format.md")
        assert prog.ops
