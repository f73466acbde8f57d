"""The kernel: its subsystems, calls into module code, and findings."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

from . import current as _current
from . import titles
from .current import Task
from .device import Bus, Device, DeviceId
from .errno import EINVAL, EPERM
from .faults import Faults
from .findings import Finding, KernelStop, Kind, LoadAbort
from .frames import Site, format_stack, guilty_site, module_stack, traceback_sites
from .fs import O_RDWR, File, Fs, Node
from .index import ModuleIndex
from .irq import Irqs
from .kcsan import Kcsan
from .kmutex import KernelMutex
from .loader import Loader
from .locking import Locking
from .log import Log
from .mm import Memory
from .module import Module, ModuleState, module_of
from .pm import Pm
from .sched import Drawn, Preempt, Scheduler, Syscall
from .subsystem import Leftover, Subsystem
from .timer import HZ, Timers
from .titles import Title
from .uaccess import UserMemory
from .usb import UsbCore
from .workqueue import Workqueues

if TYPE_CHECKING:
    from .chrdev import MiscDevice

R = TypeVar("R")

# KASAN's reports: after one the kernel's memory is not to be trusted (taint B)
MEMORY_CORRUPTION = (Kind.USE_AFTER_FREE, Kind.DOUBLE_FREE, Kind.OUT_OF_BOUNDS)

SYSCTLS = ("kernel.modules_disabled", "kernel.panic_on_warn", "kernel.sig_enforce",
           "kernel.autoload")


@dataclass
class KernelConfig:
    """The kernel's settings: the `# kernel:` line of a repro."""

    sig_enforce: bool = False
    autoload: bool = True
    panic_on_warn: bool = False
    modules_disabled: bool = False
    dyndbg: bool = False  # pr_debug prints (dynamic debug on for every call site)
    kcsan: bool = True  # the data-race detector watches the tasks of concurrent groups
    trusted_keys: tuple[bytes, ...] = ()


class Tracer(Protocol):
    """The worker's crash breadcrumb: the module function running now."""

    def enter(self, module: str, function: str) -> None: ...

    def leave(self) -> None: ...

    def swap(self, stack: list[bytes]) -> list[bytes]: ...


class Kernel:
    """One simulated kernel. Cheap to make: the fuzzer makes one per test case."""

    HZ = HZ
    tracer: Tracer | None = None

    def __init__(self, index: ModuleIndex, config: KernelConfig | None = None):
        self.index = index
        self.config = config or KernelConfig()
        self.jiffies = 0
        self.uid = 0
        # `current`: the task code runs as; IRQs and softirqs run on the task they interrupt
        self.user = Task("kfuzz", 1)
        self.kworker = Task("kworker/0:1", 2)
        self.task = self.user
        self.taints: set[str] = set()
        self.findings: list[Finding] = []
        self.context: list[Module | None] = []
        self.log = Log(self)
        self.faults = Faults()
        self.mm = Memory(self)
        self.locking = Locking(self)
        self.loader = Loader(self)
        self.fs = Fs(self)
        self.uaccess = UserMemory(self)
        self.chrdevs: dict[int, Node] = {}
        self.miscs: dict[MiscDevice, Node] = {}
        self.bus = Bus(self)
        self.irqs = Irqs(self)
        self.timers = Timers(self)
        self.workqueues = Workqueues(self)
        self.pm = Pm(self)
        self.usb = UsbCore(self)  # after the bus: it hooks the bus's unplug
        self.sched = Scheduler(self)
        self.kcsan: Kcsan | None = None  # while a group runs (kcsan.py)
        self.misc_mtx = KernelMutex("misc_mtx")  # drivers/char/misc.c: misc_open holds it
        # where a module can leave something behind, in the order it is reported; memory
        # last: a registration left behind is the cause, the buffers it holds the effect
        self.subsystems: list[Subsystem] = [self.fs, self.bus, self.irqs, self.timers,
                                            self.workqueues, self.pm, self.mm]

    # -- context ----------------------------------------------------------------------
    def current_module(self) -> Module | None:
        return self.context[-1] if self.context else None

    def call(self, fn: Callable[..., R], *args: object) -> R:
        """Calls module code the way the kernel does: checked, and an oops if it raises."""
        mod = module_of(fn)
        if mod is not None and mod.state is ModuleState.UNLOADED:
            site = self.definition(mod, fn)
            name = site.function
            self.report(titles.UNLOADED_CODE,
                        f"BUG: unable to handle page fault: call into {name} of module "
                        f"{mod.name}, which is unloaded", site=site, stack=[site] + module_stack())
        if mod is None:
            return fn(*args)
        return self.run_module_code(mod, fn, *args)

    def run_module_code(self, mod: Module, fn: Callable[..., R], *args: object) -> R:
        self.context.append(mod)
        tracer = self.tracer
        if tracer is not None:
            tracer.enter(mod.name, getattr(fn, "__name__", mod.name))
        try:
            return fn(*args)
        except (KernelStop, LoadAbort):
            raise
        except BaseException as exc:  # noqa: BLE001 - every escape from module code is an oops
            sites = traceback_sites(exc.__traceback__)
            if isinstance(exc, KeyboardInterrupt) and (not sites or exc.__traceback__ is None):
                raise
            if not sites and isinstance(exc, TypeError):  # the callback's shape is not the call's
                sites = [self.definition(mod, fn)]
                exc = TypeError(f"the kernel calls {sites[0].function}() with {len(args)} "
                                f"argument(s) ({', '.join(type(a).__name__ for a in args)}): {exc}")
            if mod.state is ModuleState.UNLOADED:  # its code ran on while another task unloaded it
                site = guilty_site(sites)
                self.report(titles.UNLOADED_CODE,
                            f"BUG: unable to handle page fault: module {mod.name} was unloaded while "
                            f"its code ran on {self.task.comm}:{self.task.pid} "
                            f"({type(exc).__name__}: {exc})", site=site, stack=sites)
            self.oops(exc, sites)
        finally:
            self.context.pop()
            if tracer is not None:
                tracer.leave()

    @staticmethod
    def definition(mod: Module, fn: Callable[..., object]) -> Site:
        """Where a function of module code is defined: the site of a call into it that
        failed before its first line (a callback of the wrong shape)."""
        name = getattr(fn, "__name__", "?")
        code = getattr(getattr(fn, "__func__", fn), "__code__", None)
        return Site(mod.name, name, code.co_filename if code else "?", code.co_firstlineno if code else 0)

    def check_context(self) -> None:
        """After a sleep: module code on this task whose module another task unloaded
        meanwhile would return into freed text, a page fault (an unloaded-code finding)."""
        for mod in self.context:
            if mod is not None and mod.state is ModuleState.UNLOADED:
                stack = module_stack(sys._getframe(1))
                site = guilty_site([s for s in stack if s.module == mod.name]) or guilty_site(stack)
                self.report(titles.UNLOADED_CODE,
                            f"BUG: unable to handle page fault: module {mod.name} was unloaded while its "
                            f"code slept on {self.task.comm}:{self.task.pid}", site=site, stack=stack)

    def oops(self, exc: BaseException, sites: list[Site]) -> NoReturn:
        """Reports what escaped module code and unwinds with KernelStop, as a fatal report does."""
        text = str(exc)
        if isinstance(exc, MemoryError):
            raise KernelStop(self.report(
                titles.OUT_OF_MEMORY,
                f"Out of memory: the kernel process hit its memory limit ({text or 'MemoryError'})",
                site=guilty_site(sites), stack=sites, fatal=False))
        if isinstance(exc, ZeroDivisionError):  # the #DE trap: die("divide error", regs, 0)
            raise KernelStop(self.report(titles.DIVIDE_ERROR, f"Oops: divide error: 0000 [#1] ({text})",
                                         site=guilty_site(sites), stack=sites, fatal=False))
        null = isinstance(exc, (AttributeError, TypeError)) and "NoneType" in text
        raise KernelStop(self.report(titles.NULL_DEREF if null else titles.OOPS,
                                     f"Oops: {type(exc).__name__}: {text}", site=guilty_site(sites),
                                     stack=sites, exc=type(exc).__name__, fatal=False))

    # -- findings -----------------------------------------------------------------------
    def report(self, title: Title, message: str, *, site: Site | None = None,
               stack: list[Site] | None = None, module: str | None = None,
               alloc: list[str] | None = None, free: list[str] | None = None,
               fatal: bool = True, **fields: object) -> Finding:
        """Records a finding and, when fatal, unwinds module code with KernelStop.

        The title is an entry of the titles table, filled with the guilty function
        as `{fn}` and `fields`; its kind is the title's."""
        if stack is None:
            stack = module_stack(sys._getframe(1))
        site = site or guilty_site(stack)
        function = site.function if site else "?"
        module = module or (site.module if site else "?")
        finding = Finding(title.kind, title.format(fn=function, **fields), module, function, message,
                          format_stack(stack), alloc or [], free or [], site.ref() if site else None)
        self.findings.append(finding)
        if title.kind in (Kind.OOPS, Kind.BUG):
            self.taints.add("D")
        self._log_finding(finding)
        if title.kind in MEMORY_CORRUPTION:
            self.taints.add("B")  # mm/kasan/report.c end_report: add_taint(TAINT_BAD_PAGE)
        if fatal:
            raise KernelStop(finding)
        return finding

    def warn(self, title: Title, message: str) -> None:
        self.taints.add("W")
        self.report(title, message, stack=module_stack(sys._getframe(1)),
                    fatal=self.config.panic_on_warn)

    def bug(self, title: Title, message: str) -> None:
        self.report(title, message, stack=module_stack(sys._getframe(1)))

    def _log_finding(self, f: Finding) -> None:
        write = self.log.write
        write("=" * 66)
        write(f.title)
        write(f.message)
        write(f"CPU: 0 PID: {self.task.pid} Comm: {self.task.comm} Tainted: {self.taint_string()}")
        if f.traceback:
            write("Call Trace (module code, innermost last):")
            for line in f.traceback:
                write(line)
        for label, sites in (("Allocated by:", f.alloc_site), ("Freed by:", f.free_site)):
            if sites:
                write(label)
                for line in sites:
                    write(line)
        write("=" * 66)

    def first_finding(self) -> Finding | None:
        """The program's outcome: its first finding, but a data race does not hide another
        finding of the same operation (the use-after-free it led to, most often)."""
        findings = self.findings
        if not findings:
            return None
        return next((f for f in findings if f.kind is not Kind.DATA_RACE), findings[0])

    def taint_string(self) -> str:
        letters = "".join(t for t in "PFRBDWOE" if t in self.taints)  # kernel/panic.c's order
        return letters or "G"

    # -- checks at unload ----------------------------------------------------------------
    def check_gone(self, mod: Module) -> None:
        """After exit() or a failed init nothing of the module may stay behind. What is
        left stays registered, so that a callback of it that fires later is unloaded code."""
        for left in self.leftovers(mod):
            if left.report is not None:
                left.report()
                continue
            what, name, site = left.what, left.name, left.site
            self.report(titles.DANGLING,
                        f"module {mod.name} is gone but its {what} '{name}' is still registered",
                        site=site, stack=[site] if site else [], module=mod.name, what=what, name=name)

    def leftovers(self, mod: Module) -> list[Leftover]:
        """What `mod` still holds, subsystem by subsystem."""
        return [left for sub in self.subsystems for left in sub.leftovers(mod)]

    # -- operations from user space ------------------------------------------------------
    def do(self, op: str, *args: object, fail_nth: int | None = None, nobody: bool = False) -> object:
        """Runs the user-space operation `_op_OP`; returns its result (an object or an int)."""
        return self.run_op(getattr(self, f"_op_{op}"), *args, fail_nth=fail_nth, nobody=nobody)

    def run_op(self, handler: Callable[..., R], *args: object, fail_nth: int | None = None,
               nobody: bool = False) -> R | None:
        """Runs one user-space operation, `handler(*args)`, as a system call runs: as root or
        nobody, with fault injection armed, locks checked on the way back to user space."""
        results = self.run_calls([Syscall(handler, args, fail_nth, nobody)])
        return results[0] if results else None

    def run_calls(self, calls: list[Syscall], plan: tuple[Preempt, ...] = (),
                  drawn: tuple[Drawn, ...] = ()) -> list[Any]:
        """Runs system calls as tasks of their own, together when there are several
        (sched.py); their results, or none when a fatal finding stopped them."""
        _current.push(self)
        stopped = False
        try:
            results = self.sched.run(calls, plan, drawn)
            self.mm.scan()  # kmemleak: what lost its last reference during the operation
            return results
        except KernelStop:
            stopped = True
            return []
        finally:
            if stopped:  # the stop's traceback is gone: what the unwound frames held is no finding
                self.mm.kmemleak.discard()
            self.faults.disarm()
            self.uid = 0
            self.locking.reset()
            self.context.clear()
            _current.pop()

    def _op_insmod(self, name: str, params: dict[str, str] | None = None) -> int:
        return self.loader.insmod(name, params or {})

    def _op_rmmod(self, name: str, force: bool = False) -> int:
        return self.loader.rmmod(name, force)

    def _op_modprobe(self, name: str, params: dict[str, str] | None = None) -> int:
        return self.loader.modprobe(name, params or {})  # it checks the uid where kmod would

    def _op_modprobe_remove(self, name: str) -> int:
        if self.uid != 0:
            return -EPERM
        return self.loader.modprobe_remove(name)

    def _op_plug(self, bus: str, dev_id: DeviceId) -> Device | int:
        return self.bus.plug(dev_id)

    def _op_unplug(self, dev: Device) -> int:
        return self.bus.unplug(dev)

    def _op_open(self, path: str, flags: int = O_RDWR) -> File | int:
        return self.fs.open(path, flags)

    def _op_read(self, file: File, count: int) -> object:
        return self.fs.read(file, count)

    def _op_write(self, file: File, data: bytes) -> object:
        return self.fs.write(file, data)

    def _op_ioctl(self, file: File, cmd: int, arg: int | bytes) -> object:
        return self.fs.ioctl(file, cmd, arg)

    def _op_lseek(self, file: File, offset: int, whence: int) -> object:
        return self.fs.llseek(file, offset, whence)

    def _op_poll(self, file: File) -> object:
        return self.fs.poll(file)

    def _op_fcntl(self, file: File, flags: int) -> object:
        return self.fs.setfl(file, flags)

    def _op_close(self, file: File) -> object:
        return self.fs.close(file)

    def _op_irq(self, line: int) -> int:
        return self.irqs.raise_line(line)

    def _op_tick(self, n: int) -> int:
        return self.timers.tick(n)

    def _op_suspend(self) -> int:
        return self.pm.suspend()

    def _op_sysctl(self, name: str, value: str) -> int:
        if self.uid != 0:
            return -EPERM
        if name not in SYSCTLS or value not in ("0", "1"):
            return -EINVAL
        on = value == "1"
        if name == "kernel.modules_disabled":
            if not on:  # proc_dointvec_minmax with extra1 = extra2 = SYSCTL_ONE
                return -EINVAL  # so once set, it stays set until reboot
            self.config.modules_disabled = True
        else:
            setattr(self.config, name.split(".", 1)[1], on)
        return 0

    def _op_cleanup(self) -> None:
        from .teardown import teardown
        teardown(self)
