"""The one runner: a kernel session runs every program, one operation at a time.

Fuzzing, replay, minimization and the python-leak check all go through
`KernelSession`: `begin` makes a fresh kernel, `step` runs one operation through
the operation table, `end` cleans up and checks. `run_program` is exactly that.
An operation that runs too long is stopped by a timer signal that turns into a
`hang` finding at the module line it was on.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import FrameType

from ..kernel import Kernel, KernelConfig, ModuleIndex, titles
from ..kernel.current import running_kernel
from ..kernel.frames import module_stack
from ..kernel.log import PrintRedirect
from ..kernel.sched import Preempt, Syscall
from ..kernel.signing import load_public
from .args import RESOURCES, Unresolved
from .heapcheck import check_python_leak
from .outcome import OpResult, Outcome, Reply, Result, describe
from .program import Group, Op, Program


def kernel_config(settings: dict[str, str]) -> KernelConfig:
    keys: tuple[bytes, ...] = ()
    if settings.get("keyring"):
        keys = (load_public(Path(settings["keyring"])),)
    return KernelConfig(
        sig_enforce=settings.get("sig_enforce") == "1",
        autoload=settings.get("autoload", "1") == "1",
        panic_on_warn=settings.get("panic_on_warn") == "1",
        modules_disabled=settings.get("modules_disabled") == "1",
        dyndbg=settings.get("dyndbg") == "1",
        kcsan=settings.get("kcsan", "1") == "1",
        trusted_keys=keys,
    )


def program_index(prog: Program) -> ModuleIndex:
    return ModuleIndex.scan(prog.modules)


# An operation hangs when it used `op_timeout` seconds of user CPU time (a busy loop,
# as the soft-lockup watchdog counts), or when it took this many times that on the
# wall clock (a sleep that never returns, as the hung-task detector counts). A worker
# starved of CPU by other work on the machine is slow, not hung; and the system time
# of page faults is not counted, since Linux's page allocator reschedules (no soft
# lockup): a module filling memory runs out of it, whatever the machine's load.
WALL_FACTOR = 10


def _stop_timer() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)


atexit.register(_stop_timer)


class KernelSession:
    """Test cases on fresh kernels of one module index, in this process."""

    def __init__(self, index: ModuleIndex, op_timeout: float | None = None):
        self.index = index
        self.op_timeout = op_timeout
        self._kernel: Kernel | None = None
        self.names: dict[str, object] = {}
        self.fired: tuple[Preempt, ...] = ()  # the preemptions of the last group that fired
        self.reached: tuple[Preempt, ...] = ()  # where one could have fired (kernel/sched.py)
        self._configs: dict[tuple[tuple[str, str], ...], KernelConfig] = {}
        self._armed = False
        # told each operation's `.kfz` line as it starts (the worker keeps it for a crash report)
        self.on_op: Callable[[str], None] | None = None
        self._cpu0 = self._wall0 = 0.0
        if op_timeout:
            signal.signal(signal.SIGALRM, self._on_timer)

    @property
    def kernel(self) -> Kernel:
        if self._kernel is None:
            raise RuntimeError("no test case begun")
        return self._kernel

    # -- the hang timer ---------------------------------------------------------------
    # One real-time timer, armed once an operation (a system call a request, not four):
    # when it fires, the operation's user CPU time says whether it spun, and the wall
    # clock whether it slept too long; else it is armed again for what is left of the
    # nearer bound (CPU time passes no faster than the wall clock). It is left running
    # when the operation ends (unarmed, the handler ignores it, and the next operation
    # arms it afresh) and stopped when the test case ends, and at exit (a process
    # finishing its Python ends with SIGALRM's default action: killed).
    def _on_timer(self, signum: int, frame: FrameType | None) -> None:
        kernel = running_kernel()
        if not self._armed or kernel is None or not self.op_timeout:
            return
        cpu = os.times().user - self._cpu0
        wall = time.monotonic() - self._wall0
        if cpu >= self.op_timeout:
            said = f"watchdog: soft lockup: the operation ran for {self.op_timeout:g} seconds of CPU time"
        elif wall >= self.op_timeout * WALL_FACTOR:
            said = f"INFO: task kfuzz blocked for more than {self.op_timeout * WALL_FACTOR:g} seconds"
        else:
            left = min(self.op_timeout - cpu, self.op_timeout * WALL_FACTOR - wall)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))
            return
        self._armed = False
        kernel.report(titles.HANG, said, stack=module_stack(frame))

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        if not self.op_timeout:
            yield
            return
        # no cyclic garbage collection while the timer runs: a collection of the whole
        # process's heap (in-process, the fuzzer's too) is no time the operation spent,
        # and the timer firing inside a collection's callback is lost there
        collecting = gc.isenabled()
        gc.disable()
        self._cpu0, self._wall0 = os.times().user, time.monotonic()
        self._armed = True
        signal.setitimer(signal.ITIMER_REAL, self.op_timeout)
        try:
            yield
        finally:
            self._armed = False
            if collecting:
                gc.enable()

    @contextlib.contextmanager
    def _output_to_log(self) -> Iterator[None]:
        sink = PrintRedirect(self.kernel.log)
        out, err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = sink
        try:
            yield
        finally:
            sys.stdout, sys.stderr = out, err
            sink.flush()

    # -- test cases ---------------------------------------------------------------------
    def begin(self, settings: dict[str, str]) -> None:
        key = tuple(sorted(settings.items()))
        config = self._configs.get(key)
        if config is None:
            config = self._configs[key] = kernel_config(settings)
        self._kernel = Kernel(self.index, replace(config))
        self.names = {}

    def _reply(self, result: object, op: Op | None = None) -> Reply:
        kernel = self.kernel
        finding = kernel.first_finding()
        site = kernel.faults.failed_at
        if isinstance(op, Group) and isinstance(result, list):
            described: Result = [describe(r, t.bind) for r, t in zip(result, op.tasks, strict=True)]
        else:
            described = describe(result, op.bind if op is not None else None)
        fired, self.fired = self.fired, ()
        return Reply(described, finding, tuple(kernel.fs.nodes), tuple(kernel.loader.modules),
                     kernel.log.dmesg() if finding is not None else [], kernel.faults.count,
                     f"{site.module}:{site.lineno}" if site else "", fired)

    def execute(self, op: Op) -> object:
        """Runs one operation through its table entry; binds its name when it succeeded.
        A group runs its tasks together (kernel/sched.py); its result is theirs, in order."""
        if isinstance(op, Group):
            return self._execute_group(op)
        spec = op.spec
        try:
            values = [kind.resolve(value, self.names) for kind, value in zip(spec.args, op.args, strict=True)]
        except Unresolved as err:
            return err.errno
        kernel = self.kernel
        result = kernel.run_op(spec.handler, kernel, *values, fail_nth=op.fail_nth, nobody=op.nobody)
        self._bind(op, result)
        return result

    def _bind(self, op: Op, result: object) -> None:
        if op.bind:
            if op.spec.binds and isinstance(result, RESOURCES[op.spec.binds][0]):
                self.names[op.bind] = result
            else:
                self.names.pop(op.bind, None)

    def _execute_group(self, group: Group) -> list[object]:
        kernel = self.kernel
        calls: list[Syscall | int] = []
        for n, op in enumerate(group.tasks, 1):
            try:
                values = [kind.resolve(value, self.names)
                          for kind, value in zip(op.spec.args, op.args, strict=True)]
            except Unresolved as err:
                calls.append(err.errno)  # the task fails at once, as its system call would
                continue
            calls.append(Syscall(op.spec.handler, (kernel, *values), op.fail_nth, op.nobody, f"kfuzz-t{n}"))
        syscalls = [c if isinstance(c, Syscall) else Syscall(_errno_call, (c,)) for c in calls]
        results = kernel.run_calls(syscalls, group.schedule, group.drawn)
        self.fired = tuple(kernel.sched.fired)
        self.reached = tuple(kernel.sched.reached)
        if not results:
            return [None] * len(group.tasks)
        for op, result in zip(group.tasks, results, strict=True):
            self._bind(op, result)
        return results

    def step(self, op: Op, settings: dict[str, str] | None = None) -> Reply:
        """One operation; with `settings`, in a fresh kernel begun for it (one round
        trip for the worker instead of two)."""
        if settings is not None:
            self.begin(settings)
        if self.on_op is not None:
            self.on_op(op.format())
        with self._output_to_log(), self.guard():
            result = self.execute(op)
        return self._reply(result, op)

    def end(self, settings: dict[str, str] | None = None) -> Reply:
        """The end-of-program clean-up and its checks."""
        if settings is not None:
            self.begin(settings)
        if self.on_op is not None:
            self.on_op("clean-up")
        if not self.kernel.findings:
            with self._output_to_log(), self.guard():
                self.kernel.do("cleanup")
        if self.op_timeout:  # a session without a timer leaves a caller's alone
            _stop_timer()
        return self._reply(0)

    def dmesg(self) -> list[str]:
        return self._kernel.log.dmesg() if self._kernel else []

    def run(self, prog: Program) -> Outcome:
        """A whole program: begin, each operation, end. Its outcome is its first finding."""
        if not self._knows(prog):
            return KernelSession(program_index(prog), self.op_timeout).run(prog)
        self.begin(prog.settings)
        results: list[OpResult] = []

        def run_ops() -> None:
            results.clear()
            for op in prog.ops:
                reply = self.step(op)
                reached, self.reached = self.reached, ()
                results.append(OpResult(replace(op, comment="").format(), reply.result, reply.faults,
                                        reply.fault_site, tuple(p.format() for p in reply.fired),
                                        tuple(p.format() for p in reached)))
                if reply.finding is not None:
                    return

        if "python-leak" in prog.checks:
            check_python_leak(self.kernel, run_ops)
        else:
            run_ops()
        self.end()
        kernel = self.kernel
        return Outcome(kernel.first_finding(), kernel.log.dmesg(), results,
                       kernel.taint_string())

    def _knows(self, prog: Program) -> bool:
        """Whether the program's module files are this session's."""
        for path in prog.modules:
            image = self.index.get(path.stem)
            if image is None or image.path.resolve() != path.resolve():
                return False
        return True


def _errno_call(errno: int) -> int:
    """A task whose operation names a file or device that is gone: it fails at once."""
    return errno


def run_program(prog: Program, index: ModuleIndex | None = None) -> Outcome:
    """Runs the program on a fresh kernel in this process."""
    return KernelSession(index if index is not None else program_index(prog)).run(prog)
