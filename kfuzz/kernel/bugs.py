"""WARN_ON, BUG_ON, BUG and panic: the module's own assertions."""

from __future__ import annotations

from . import titles
from .current import current


def WARN_ON(cond: object) -> bool:
    """Logs a WARNING with the site and taints W; execution goes on."""
    if cond:
        current().warn(titles.WARN_ON, "WARN_ON(cond) triggered")
    return bool(cond)


def WARN_ON_ONCE(cond: object) -> bool:
    return WARN_ON(cond)


def BUG_ON(cond: object) -> None:
    if cond:
        BUG()


def BUG() -> None:
    current().bug(titles.BUG, "kernel BUG: BUG() or BUG_ON() reached")


def panic(msg: object) -> None:
    current().bug(titles.PANIC, f"Kernel panic - not syncing: {msg}")
