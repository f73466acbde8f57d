"""Ports of Linux drivers as Linux has them: the data races a port marks, made plain again."""

from __future__ import annotations

from pathlib import Path

STAR = "from kfuzz.kapi import *\n"


def linux_as_is(port: Path, folder: Path) -> Path:
    """A copy of PORT in FOLDER with its `data_race()` marks made plain accesses, as the C
    file has them: what kfuzz reports of the copy is Linux's code as it is."""
    text = port.read_text()
    assert STAR in text and "data_race(" in text, f"{port.name}: no data_race() marks to undo"
    copy = folder / port.name
    copy.write_text(text.replace(STAR, STAR + "data_race = lambda access: access()  # Linux: plain\n", 1))
    return copy
