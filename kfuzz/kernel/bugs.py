"""WARN_ON, BUG_ON, BUG and panic: the module's own assertions."""

from __future__ import annotations

from typing import Any

from .current import current


def WARN_ON(cond: Any) -> bool:
    """Logs a WARNING with the site and taints W; execution goes on."""
    if cond:
        current().warn("WARNING in {fn}", "WARN_ON(cond) triggered")
    return bool(cond)


def WARN_ON_ONCE(cond: Any) -> bool:
    return WARN_ON(cond)


def BUG_ON(cond: Any) -> None:
    if cond:
        BUG()


def BUG() -> None:
    current().bug("bug", "kernel BUG in {fn}", "kernel BUG: BUG() or BUG_ON() reached")


def panic(msg: Any) -> None:
    current().bug("bug", "kernel panic in {fn}", f"Kernel panic - not syncing: {msg}")
