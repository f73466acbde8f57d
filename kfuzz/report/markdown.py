"""The person-facing files of a report: report.md and test_repro.py."""

from __future__ import annotations


def _block(lines: list[str], lang: str = "") -> str:
    return f"```{lang}\n" + "\n".join(lines) + "\n```\n"


def report_markdown(data: dict) -> str:
    parts = [
        f"# {data['title']}\n",
        f"- kind: `{data['kind']}`",
        f"- module: `{data['module']}`, function `{data['function']}`",
        f"- reproduced: {data['reproduced']} of {data['replays']} replays in fresh kernels",
        f"- found {data['count']} time(s), first {data['first_seen']}, last {data['last_seen']}"
        + (f", seed {data['seed']}" if data.get("seed") is not None else ""),
        "",
        data.get("message", ""),
        "",
        f"## Repro ({data['steps']} steps)\n",
        _block(data["repro"].rstrip("\n").split("\n")),
        "Run it with `kfuzz replay repro.kfz` (or `pytest test_repro.py`).\n",
    ]
    if data.get("traceback"):
        parts += ["## Traceback into module code\n", _block(data["traceback"], "text")]
    if data.get("alloc_site"):
        parts += ["## Allocated by\n", _block(data["alloc_site"], "text")]
    if data.get("free_site"):
        parts += ["## Freed by\n", _block(data["free_site"], "text")]
    if data.get("dmesg"):
        parts += ["## Kernel log\n", _block(data["dmesg"][-80:], "text")]
    return "\n".join(parts)


def test_source(title: str) -> str:
    return f'''"""Regression test for: {title}

It replays repro.kfz in a fresh kernel (the `kernel` fixture of kfuzz's pytest
plugin) and fails, with the bug's report, while the bug is there.
"""

from pathlib import Path

from kfuzz.testing import assert_clean

TITLE = {title!r}


def test_repro_runs_clean(kernel):
    assert_clean(kernel.run_file(Path(__file__).with_name("repro.kfz")))
'''
