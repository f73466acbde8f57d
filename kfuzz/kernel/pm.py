"""Power management: PM notifiers and the suspend/resume cycle of bound devices."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from . import titles
from .current import current
from .errno import EEXIST, ENOENT, ENOMEM, EPERM
from .faults import should_fail
from .frames import Site, caller_site
from .subsystem import Leftover, fname

if TYPE_CHECKING:
    from .core import Kernel
    from .module import Module

PM_HIBERNATION_PREPARE = 1
PM_POST_HIBERNATION = 2
PM_SUSPEND_PREPARE = 3
PM_POST_SUSPEND = 4
NOTIFY_DONE = 0
NOTIFY_OK = 1


class Pm:
    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.notifiers: list[tuple[Callable[[int], int], Module | None, Site | None]] = []

    def register(self, fn: Callable[[int], int]) -> int:
        if should_fail("register_pm_notifier"):
            return -ENOMEM
        if any(f is fn for f, _, _ in self.notifiers):
            self.kernel.warn(titles.NOTIFIER_REGISTER_TWICE,
                             f"notifier callback {getattr(fn, '__name__', fn)} already registered")
            return -EEXIST
        self.notifiers.append((fn, self.kernel.current_module(), caller_site()))
        return 0

    def unregister(self, fn: Callable[[int], int]) -> int:
        for entry in self.notifiers:
            if entry[0] is fn:
                self.notifiers.remove(entry)
                return 0
        return -ENOENT

    def suspend(self) -> int:
        """One suspend and resume cycle, as `echo mem > /sys/power/state` does."""
        kernel = self.kernel
        if kernel.uid != 0:
            return -EPERM
        kernel.log.write("PM: suspend entry (deep)")
        err = self._prepare()
        if err:
            kernel.log.write("PM: suspend exit")
            return err
        done = []
        for dev in reversed(list(kernel.bus.bind_order)):
            drv = dev.driver
            if not (drv and drv.suspend):
                done.append(dev)
                continue
            ret = kernel.call(drv.suspend, dev)
            if isinstance(ret, int) and ret < 0:
                kernel.log.write(f"PM: dpm_run_callback(): {drv.name} {dev.name} returns {ret}")
                err = ret
                break
            done.append(dev)
        for dev in reversed(done):
            drv = dev.driver
            if drv and drv.resume:
                kernel.call(drv.resume, dev)
        for fn, _, _ in list(self.notifiers):
            kernel.call(fn, PM_POST_SUSPEND)
        kernel.log.write("PM: suspend exit")
        return err

    def _prepare(self) -> int:
        """pm_notifier_call_chain_robust (kernel/power/main.c), as suspend_prepare
        (kernel/power/suspend.c) calls it: PM_SUSPEND_PREPARE down the chain, in
        registration order, until a notifier returns an error; that vetoes the suspend,
        and the notifiers called before it get PM_POST_SUSPEND. 0 or the error."""
        kernel = self.kernel
        called: list[Callable[[int], int]] = []
        for fn, _, _ in list(self.notifiers):
            ret = kernel.call(fn, PM_SUSPEND_PREPARE)
            if isinstance(ret, int) and ret < 0:
                for earlier in called:
                    kernel.call(earlier, PM_POST_SUSPEND)
                return ret
            called.append(fn)
        return 0

    def owned_by(self, mod: Module) -> list[tuple[Callable[[int], int], Module | None, Site | None]]:
        return [e for e in self.notifiers if e[1] is mod]

    def leftovers(self, mod: Module) -> list[Leftover]:
        return [Leftover("pm notifier", fname(fn), site) for fn, _, site in self.owned_by(mod)]

    def owners(self) -> Iterable[Module | None]:
        return (owner for _, owner, _ in self.notifiers)


def register_pm_notifier(fn: Callable[[int], int]) -> int:
    return current().pm.register(fn)


def unregister_pm_notifier(fn: Callable[[int], int]) -> int:
    return current().pm.unregister(fn)
