"""The end of a program: clean up as a careful administrator would, then check.

Every open file is closed, every device unplugged, every module removed (users
before the modules they use). Whatever is left afterwards is a finding.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from . import titles
from .module import Module

if TYPE_CHECKING:
    from .core import Kernel


def teardown(kernel: Kernel) -> None:
    for file in list(kernel.fs.files):
        kernel.fs.close(file)
    for dev in list(kernel.bus.devices):
        kernel.bus.unplug(dev)
    kernel.config.modules_disabled = False  # the check, not the administrator, unloads
    remove_all(kernel)
    if kernel.mm.outlives(kernel.loader.modules.values()):
        gc.collect()  # held by a registration left behind, or by garbage: the scan sees it now
    check_refs(kernel)
    check_empty(kernel)


def remove_all(kernel: Kernel) -> None:
    loader = kernel.loader
    progress = True
    while progress:
        progress = False
        for mod in reversed(list(loader.modules.values())):
            if mod.users or mod.permanent or mod.refcnt > 0:
                continue
            loader.rmmod(mod.name)
            progress = True
            break


def check_refs(kernel: Kernel) -> None:
    """A module held by a reference that never comes back can never be removed."""
    for mod in list(kernel.loader.modules.values()):
        if mod.permanent or mod.refcnt <= 0:
            continue
        site = next((s for s in reversed(mod.ref_sites) if s is not None), None)
        kernel.report(titles.MODULE_REFERENCE_LEAKED,
                      f"module {mod.name} cannot be unloaded: refcount {mod.refcnt} "
                      "after every file was closed and every device unplugged",
                      site=site, stack=[site] if site else [], module=mod.name, mod=mod.name)


def check_empty(kernel: Kernel) -> None:
    """Nothing may outlive the modules that made it (permanent ones excepted): every
    subsystem names who holds something, and each module gone is checked as at rmmod."""
    loaded: set[Module] = set(kernel.loader.modules.values())
    owners = dict.fromkeys(o for sub in kernel.subsystems for o in sub.owners())
    for mod in owners:
        if mod not in loaded and mod is not None:
            kernel.check_gone(mod)
