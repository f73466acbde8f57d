"""WARN_ON, WARN_ON_ONCE, BUG_ON, BUG and panic: the module's own assertions."""

from __future__ import annotations

import sys

from . import titles
from .current import current
from .module import Module


def WARN_ON(cond: object) -> bool:
    """Logs a WARNING with the site and taints W; execution goes on."""
    if cond:
        current().warn(titles.WARN_ON, "WARN_ON(cond) triggered")
    return bool(cond)


def WARN_ON_ONCE(cond: object) -> bool:
    """WARN_ON, the first time at its call site only (include/asm-generic/bug.h).

    Linux keeps one `__warned` flag per call site, a static in the .data of the
    module the call is written in. A fresh load of that module has fresh .data, so
    the flag resets with an rmmod and insmod, as here: the flags live on the loaded
    `Module`. Returns the condition every time, warned or not."""
    if not cond:
        return False
    caller = sys._getframe(1)
    mod = caller.f_globals.get("THIS_MODULE")
    if isinstance(mod, Module):
        site = (caller.f_code.co_filename, caller.f_lineno)
        if site in mod.warned_once:
            return True
        mod.warned_once.add(site)
    current().warn(titles.WARN_ON, "WARN_ON_ONCE(cond) triggered")
    return True


def BUG_ON(cond: object) -> None:
    if cond:
        BUG()


def BUG() -> None:
    current().bug(titles.BUG, "kernel BUG: BUG() or BUG_ON() reached")


def panic(msg: object) -> None:
    current().bug(titles.PANIC, f"Kernel panic - not syncing: {msg}")
