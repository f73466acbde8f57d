"""Interrupt lines: request_irq, free_irq and raising a line in hard-IRQ context."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import titles
from .current import current
from .device import Device
from .errno import EBUSY, EINVAL, ENOMEM
from .faults import should_fail
from .frames import Site, caller_site
from .misuse import expect, misuse
from .sched import Wait
from .subsystem import Leftover, fname

if TYPE_CHECKING:
    from .core import Kernel
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


# kernel/irq/spurious.c: a line is stuck when more than this many of a window unhandled
IRQ_COUNT_WINDOW = 100_000
UNHANDLED_LIMIT = 99_900


@dataclass
class IrqDesc:
    """The spurious-interrupt counts Linux keeps in `struct irq_desc`, per line."""

    irq_count: int = 0
    irqs_unhandled: int = 0
    last_unhandled: int = 0  # jiffies
    disabled: bool = False  # IRQS_SPURIOUS_DISABLED: handlers no longer run
    running: int = 0  # handlers running now (IRQD_IRQ_INPROGRESS), on tasks of a group


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
        self.descs: dict[int, IrqDesc] = {}

    def request(self, irq: int, handler: IrqHandler, flags: int, name: str, dev_id: object,
                what: str = "request_irq") -> int:
        """request_threaded_irq (kernel/irq/manage.c): the argument checks come first,
        then the kzalloc(GFP_KERNEL) of the action, which may sleep and may fail."""
        if not isinstance(irq, int) or irq < 0 or handler is None:
            return -EINVAL
        if flags & IRQF_SHARED and dev_id is None:
            return -EINVAL  # a shared handler is told apart by its dev_id at free_irq
        self.kernel.locking.might_sleep(what)  # kzalloc(GFP_KERNEL), desc->request_mutex
        if should_fail(what):
            return -ENOMEM
        actions = self.lines.setdefault(irq, [])
        if actions and not (flags & IRQF_SHARED and all(a.flags & IRQF_SHARED for a in actions)):
            return -EBUSY
        kernel = self.kernel
        action = IrqAction(irq, handler, flags, name, dev_id, kernel.current_module(), caller_site())
        if kernel.kcsan is not None:  # __setup_irq under desc->lock: before the handler's first run
            kernel.kcsan.release(action)
        actions.append(action)
        # __setup_irq: "Reset broken irq detection when installing new handler" (the
        # counts and the spurious disable; a handler running elsewhere keeps running)
        desc = self.descs.setdefault(irq, IrqDesc())
        desc.irq_count = desc.irqs_unhandled = desc.last_unhandled = 0
        desc.disabled = False
        return 0

    def free(self, irq: int, dev_id: object) -> None:
        # __free_irq takes desc->request_mutex before it looks for the action
        self.kernel.locking.might_sleep("free_irq")
        actions = self.lines.get(irq, [])
        for action in actions:
            if action.dev_id is dev_id or action.dev_id == dev_id:
                actions.remove(action)
                self.synchronize(irq)  # __free_irq: a handler running elsewhere finishes first
                return
        self.kernel.warn(titles.FREE_IRQ_TWICE,
                         f"Trying to free already-free IRQ {irq}")

    def synchronize(self, irq: int) -> None:
        """`synchronize_irq` (kernel/irq/manage.c): waits while a handler of the line
        runs on another task (a CPU of its own, inside a group)."""
        desc = self.descs.get(irq)
        kernel = self.kernel
        if desc is None or kernel.task.hardirq:
            return
        if desc.running:
            kernel.sched.block(Wait(f"synchronize_irq({irq}): a handler is running",
                                    lambda: not desc.running))
        if kernel.kcsan is not None:  # desc->lock: the handlers before happen before the return
            kernel.kcsan.acquire(desc)

    def raise_line(self, irq: int) -> int:
        kernel = self.kernel
        actions = list(self.lines.get(irq, []))
        if not actions:
            kernel.log.write(f"irq {irq}: nobody cared (spurious interrupt)")
            return 0
        desc = self.descs.setdefault(irq, IrqDesc())
        if desc.disabled:
            return 0  # handle_fasteoi_irq: a disabled line is only marked pending
        handled = 0
        task = kernel.task  # the handler runs on the task it interrupts, with IRQs off
        irqs_were_on = task.hardirqs_enabled
        task.hardirq += 1
        task.hardirqs_enabled = False
        desc.running += 1
        try:
            for action in actions:
                if kernel.kcsan is not None:
                    kernel.kcsan.acquire(action)
                ret = kernel.call(action.handler, irq, action.dev_id)
                handled |= ret if isinstance(ret, int) else 0
                if task.hardirqs_enabled:
                    self._enabled_interrupts(irq, action)
        finally:
            desc.running -= 1
            if kernel.kcsan is not None:
                kernel.kcsan.release(desc)
            task.hardirq -= 1
            task.hardirqs_enabled = irqs_were_on
        self._note_interrupt(irq, desc, actions, bool(handled))
        return 0

    def _note_interrupt(self, irq: int, desc: IrqDesc, actions: list[IrqAction],
                        handled: bool) -> None:
        """note_interrupt (kernel/irq/spurious.c): a line is stuck, and disabled, when
        more than 99,900 of its last 100,000 interrupts went unhandled. An odd unhandled
        one, more than HZ/10 after the last, starts the count again at 1."""
        jiffies = self.kernel.jiffies
        if not handled:
            if jiffies > desc.last_unhandled + self.kernel.HZ // 10:
                desc.irqs_unhandled = 1
            else:
                desc.irqs_unhandled += 1
            desc.last_unhandled = jiffies
        desc.irq_count += 1
        if desc.irq_count < IRQ_COUNT_WINDOW:
            return
        desc.irq_count = 0
        if desc.irqs_unhandled > UNHANDLED_LIMIT:
            write = self.kernel.log.write
            write(f"irq {irq}: nobody cared (try booting with the \"irqpoll\" option)")
            write("handlers:")
            for action in actions:
                write(f"[<00000000>] {fname(action.handler)}")
            write(f"Disabling IRQ #{irq}")
            desc.disabled = True
        desc.irqs_unhandled = 0

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


def check_request(api: str, irq: object, handler: object, flags: object, name: object) -> None:
    """request_irq's arguments: a wrong shape is a misuse at the call (misuse.py)."""
    expect(api, "irq", irq, int, "an interrupt line (an int, dev.irq)")
    if not callable(handler):
        raise misuse(api, "handler", handler, "a function handler(irq, dev_id)")
    expect(api, "flags", flags, int, "an int (0, IRQF_SHARED...)")
    expect(api, "name", name, str, "a str")


def request_irq(irq: int, handler: IrqHandler, flags: int, name: str, dev_id: object) -> int:
    check_request("request_irq", irq, handler, flags, name)
    return current().irqs.request(irq, handler, flags, name, dev_id)


def free_irq(irq: int, dev_id: object) -> None:
    expect("free_irq", "irq", irq, int, "an interrupt line (an int)")
    current().irqs.free(irq, dev_id)


def synchronize_irq(irq: int) -> None:
    kernel = current()
    kernel.locking.might_sleep("synchronize_irq")
    kernel.irqs.synchronize(irq)


def devm_request_irq(dev: Device, irq: int, handler: IrqHandler, flags: int,
                     name: str, dev_id: object) -> int:
    expect("devm_request_irq", "dev", dev, Device, "the Device the driver is bound to")
    check_request("devm_request_irq", irq, handler, flags, name)
    kernel = current()
    ret = kernel.irqs.request(irq, handler, flags, name, dev_id, "devm_request_irq")
    if ret == 0:
        dev.devres.append(("irq", lambda: kernel.irqs.free(irq, dev_id)))
    return ret
