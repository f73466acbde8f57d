"""The executor interface with the kernel in this process: for measuring and debugging.

Module code runs in the fuzzer's own process here, so a module that crashes
or exits takes the fuzzer with it; `--isolation fork` is the default for that.

The escape checks (escape.py) watch module code here too, so that a repro finds
the same bug either way and a module that escapes does not really chdir, write
or signal from the fuzzer's process. Their audit hook cannot be removed: it is
installed by the first request served and stays for the process's life, but it
acts only while this executor serves a request. `run_program` and
`KernelSession`, used directly, install nothing.
"""

from __future__ import annotations

from ..kernel import ModuleIndex
from ..prog import KernelSession, Op, Outcome, Program, Reply
from . import escape
from .protocol import EndRequest, Request, RunRequest, StepRequest, serve


class InProcessExecutor:
    def __init__(self, index: ModuleIndex, op_timeout: float | None = 1.0):
        self.session = KernelSession(index, op_timeout)
        self.index = index
        self.restarts = 0
        self._settings: dict[str, str] | None = None

    def _serve(self, request: Request) -> Reply | Outcome:
        escape.arm()
        try:
            return serve(self.session, request)
        finally:
            escape.disarm()

    def begin(self, settings: dict[str, str]) -> None:
        self._settings = settings

    def _fresh(self) -> dict[str, str] | None:
        settings, self._settings = self._settings, None
        return settings

    def step(self, op: Op) -> Reply:
        reply = self._serve(StepRequest(op, self._fresh()))
        assert isinstance(reply, Reply)
        return reply

    def end(self) -> Reply:
        reply = self._serve(EndRequest(self._fresh()))
        assert isinstance(reply, Reply)
        return reply

    def run(self, prog: Program) -> Outcome:
        outcome = self._serve(RunRequest(prog))
        assert isinstance(outcome, Outcome)
        return outcome

    def abort(self) -> None:
        self._settings = None

    def close(self) -> None:
        pass
