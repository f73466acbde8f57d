"""Running test cases in a kernel of this process, one operation at a time.

The worker process runs a KernelSession behind a pipe; `--isolation inprocess`
runs one directly. Either way an operation that runs too long is stopped by a
timer signal that turns into a `hang` finding at the module line it was on.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from ..kernel import Finding, Kernel, KernelConfig, ModuleIndex
from ..kernel.current import running_kernel
from ..kernel.frames import module_stack
from ..kernel.log import PrintRedirect
from ..prog import Op, Outcome, Program, execute, kernel_config, run_program
from ..prog.run import describe


@dataclass
class Reply:
    """What the fuzzer learns from one operation."""

    result: str
    ok: bool
    finding: Finding | None
    nodes: tuple[str, ...]
    loaded: tuple[str, ...]


class KernelSession:
    def __init__(self, index: ModuleIndex, op_timeout: float | None = None):
        self.index = index
        self.op_timeout = op_timeout
        self.kernel: Kernel | None = None
        self.names: dict[str, Any] = {}
        self._configs: dict[tuple, KernelConfig] = {}
        self._armed = False
        if op_timeout:
            signal.signal(signal.SIGALRM, self._on_alarm)

    # -- the hang timer -------------------------------------------------------------
    def _on_alarm(self, signum: int, frame: Any) -> None:
        kernel = running_kernel()
        if not self._armed or kernel is None:
            return
        self._armed = False
        kernel.report("hang", "INFO: task hung in {fn}",
                      f"INFO: task kfuzz blocked for more than {self.op_timeout:g} seconds",
                      stack=module_stack(frame))

    @contextlib.contextmanager
    def guard(self, op: Op | None = None) -> Iterator[None]:
        if not self.op_timeout:
            yield
            return
        self._armed = True
        signal.setitimer(signal.ITIMER_REAL, self.op_timeout)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._armed = False

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

    # -- test cases -------------------------------------------------------------------
    def begin(self, settings: dict[str, str]) -> None:
        key = tuple(sorted(settings.items()))
        config = self._configs.get(key)
        if config is None:
            config = self._configs[key] = kernel_config(settings)
        self.kernel = Kernel(self.index, replace(config))
        self.names = {}

    def _reply(self, result: Any) -> Reply:
        kernel = self.kernel
        return Reply(describe(result), not (isinstance(result, int) and result < 0),
                     kernel.findings[0] if kernel.findings else None,
                     tuple(kernel.fs.nodes), tuple(kernel.loader.modules))

    def step(self, op: Op, settings: dict[str, str] | None = None) -> Reply:
        """One operation; with `settings`, in a fresh kernel begun for it (one round
        trip for the worker instead of two)."""
        if settings is not None:
            self.begin(settings)
        with self._output_to_log(), self.guard(op):
            result = execute(self.kernel, op, self.names)
        return self._reply(result)

    def end(self, settings: dict[str, str] | None = None) -> Reply:
        """The end-of-program clean-up and its checks."""
        if settings is not None:
            self.begin(settings)
        if not self.kernel.findings:
            with self._output_to_log(), self.guard():
                self.kernel.do("cleanup")
        return self._reply(0)

    def dmesg(self) -> list[str]:
        return self.kernel.log.dmesg() if self.kernel else []

    def replay(self, prog: Program) -> Outcome:
        """A whole program in a fresh kernel, modules from this session's index if they are its."""
        def known(path: Any) -> bool:
            image = self.index.get(path.stem)
            return image is not None and image.path.resolve() == path.resolve()

        index = self.index if all(known(p) for p in prog.modules) else None
        return run_program(prog, index, guard=self.guard)
