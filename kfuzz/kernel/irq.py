"""Interrupt lines: request_irq, free_irq and raising a line in hard-IRQ context."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import titles
from .current import current
from .errno import EBUSY, EINVAL, ENOMEM
from .faults import should_fail
from .frames import Site, caller_site
from .subsystem import Leftover, fname

if TYPE_CHECKING:
    from .core import Kernel
    from .device import Device
    from .module import Module

IRQF_SHARED = 0x80
IRQF_TRIGGER_RISING = 0x01
IRQF_ONESHOT = 0x2000
IRQ_NONE = 0
IRQ_HANDLED = 1
IRQ_WAKE_THREAD = 2

# handler(irq, dev_id): dev_id is the driver's own cookie, given back as it was given;
# the handler should return IRQ_HANDLED or IRQ_NONE, but it is module code
IrqHandler = Callable[[int, Any], object]


@dataclass(eq=False)
class IrqAction:
    irq: int
    handler: IrqHandler
    flags: int
    name: str
    dev_id: object
    owner: Module | None
    site: Site | None


class Irqs:
    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.lines: dict[int, list[IrqAction]] = {}

    def request(self, irq: int, handler: IrqHandler, flags: int, name: str, dev_id: object,
                what: str = "request_irq") -> int:
        self.kernel.locking.might_sleep(what)  # kzalloc(GFP_KERNEL), desc->request_mutex
        if should_fail(what):
            return -ENOMEM
        if not isinstance(irq, int) or irq < 0 or handler is None:
            return -EINVAL
        actions = self.lines.setdefault(irq, [])
        if actions and not (flags & IRQF_SHARED and all(a.flags & IRQF_SHARED for a in actions)):
            return -EBUSY
        kernel = self.kernel
        actions.append(IrqAction(irq, handler, flags, name, dev_id, kernel.current_module(),
                                 caller_site()))
        return 0

    def free(self, irq: int, dev_id: object) -> None:
        actions = self.lines.get(irq, [])
        for action in actions:
            if action.dev_id is dev_id or action.dev_id == dev_id:
                actions.remove(action)
                return
        self.kernel.warn(titles.FREE_IRQ_TWICE,
                         f"Trying to free already-free IRQ {irq}")

    def raise_line(self, irq: int) -> int:
        kernel = self.kernel
        actions = list(self.lines.get(irq, []))
        if not actions:
            kernel.log.write(f"irq {irq}: nobody cared (spurious interrupt)")
            return 0
        handled = 0
        task = kernel.task  # the handler runs on the task it interrupts, with IRQs off
        irqs_were_on = task.hardirqs_enabled
        task.hardirq += 1
        task.hardirqs_enabled = False
        try:
            for action in actions:
                ret = kernel.call(action.handler, irq, action.dev_id)
                handled |= ret if isinstance(ret, int) else 0
                if task.hardirqs_enabled:
                    self._enabled_interrupts(irq, action)
        finally:
            task.hardirq -= 1
            task.hardirqs_enabled = irqs_were_on
        if not handled:
            kernel.log.write(f"irq {irq}: nobody cared (try booting with the \"irqpoll\" option)")
        return 0

    def _enabled_interrupts(self, irq: int, action: IrqAction) -> None:
        """__handle_irq_event_percpu: a handler must return with IRQs still off."""
        kernel = self.kernel
        kernel.task.hardirqs_enabled = False
        site = kernel.locking.irqs_on_in_hardirq or action.site
        kernel.locking.irqs_on_in_hardirq = None
        kernel.taints.add("W")
        kernel.report(titles.IRQ_HANDLER_ENABLED_IRQS,
                      f"irq {irq} handler {fname(action.handler)} enabled interrupts",
                      site=site, stack=[site] if site else [], fatal=kernel.config.panic_on_warn)

    def owned_by(self, mod: Module) -> list[IrqAction]:
        return [a for acts in self.lines.values() for a in acts if a.owner is mod]

    def leftovers(self, mod: Module) -> list[Leftover]:
        return [Leftover("irq handler", fname(a.handler), a.site) for a in self.owned_by(mod)]

    def owners(self) -> Iterable[Module | None]:
        return (a.owner for acts in self.lines.values() for a in acts)


def request_irq(irq: int, handler: IrqHandler, flags: int, name: str, dev_id: object) -> int:
    return current().irqs.request(irq, handler, flags, name, dev_id)


def free_irq(irq: int, dev_id: object) -> None:
    current().irqs.free(irq, dev_id)


def devm_request_irq(dev: Device, irq: int, handler: IrqHandler, flags: int,
                     name: str, dev_id: object) -> int:
    kernel = current()
    ret = kernel.irqs.request(irq, handler, flags, name, dev_id, "devm_request_irq")
    if ret == 0:
        dev.devres.append(("irq", lambda: kernel.irqs.free(irq, dev_id)))
    return ret
