"""The kernel's subprocess: forked from the warm fuzzer, reused across test cases.

The fuzzer process never runs module code. It sends one request at a time over
a pipe and waits with a timeout: no answer in time is a `hang`, a worker that
dies is a `crash`, and either way a fresh worker is forked for the next request.
"""

from __future__ import annotations

import faulthandler
import gc
import multiprocessing
import os
import resource
import select
import tempfile
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from ..kernel import Finding, Kernel, Kind, ModuleIndex
from ..kernel.log import Log
from ..prog import KernelSession, Op, Outcome, Program, Reply
from ..prog.session import WALL_FACTOR
from . import escape
from .child import Child
from .crash import Breadcrumb, crash_finding, hang_finding
from .inprocess import InProcessExecutor
from .protocol import EndRequest, Executor, Request, RunRequest, StepRequest, serve
from .pstore import Pstore
from .wire import ReplyState, decode_reply, decode_request, encode_reply, encode_request

GRACE = 2.0
PROGRESS_EVERY = 0.25  # seconds between looks at a long request's progress


class WorkerLost(Exception):
    def __init__(self, finding: Finding):
        super().__init__(finding.title)
        self.finding = finding


def _limit_memory(megabytes: int) -> None:
    """Address-space limit: the current size plus the allowance."""
    if not megabytes:
        return
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    limit = pages * os.sysconf("SC_PAGE_SIZE") + megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _worker_main(conn: Connection, index: ModuleIndex, op_timeout: float, crumb: Breadcrumb,
                 pstore: Pstore, fault_fd: int, memory_mb: int, tmp_dir: str) -> None:
    # the worker's own temporary directory, the one place module code may write
    # (removed with the worker's folder when the fuzzer closes it)
    tempfile.tempdir = os.environ["TMPDIR"] = tmp_dir
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    faulthandler.enable(fault_fd)
    _limit_memory(memory_mb)
    escape.arm()  # for the worker's life: module code that acts outside its kernel is a finding
    session = KernelSession(index, op_timeout)
    session.on_op = pstore.in_flight
    Kernel.tracer = crumb
    Log.pstore = pstore
    sent = ReplyState()
    while True:
        try:
            request = decode_request(conn.recv_bytes())
        except (EOFError, OSError):
            return
        if request is None:
            return
        crumb.clear()
        if isinstance(request, RunRequest) or request.settings is not None:
            pstore.clear()  # a fresh kernel: its log starts here
        value: Reply | Outcome | str
        try:
            status, value = "ok", serve(session, request)
        except Exception:  # noqa: BLE001 - a kfuzz bug: report it to the parent, keep serving
            status, value = "error", traceback.format_exc()
        conn.send_bytes(encode_reply(status, value, sent))


def current_cpu() -> int | None:
    """The CPU this process runs on now (field 39 of /proc/self/stat)."""
    try:
        with open("/proc/self/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        return None


class ForkExecutor:
    """The fuzzer's handle on its kernel worker.

    With `pin`, the fuzzer and its worker share one CPU: a reply then wakes the
    waiting fuzzer on its own core, which costs a third of a wake-up across
    cores (an idle virtual CPU is slow to wake). The CPU is the one the fuzzer runs
    on: a campaign process of `--workers` has pinned itself to a CPU of its own
    before (fuzz/parallel.py), so its worker gets that one.
    """

    def __init__(self, index: ModuleIndex, op_timeout: float = 1.0, memory_mb: int = 1024,
                 pin: bool = True, tmp_dir: str | None = None):
        self.index = index
        self.pin = pin
        self._affinity: set[int] | None = None
        self.op_timeout = op_timeout
        self.memory_mb = memory_mb
        self.proc: Child | None = None
        self.conn: Connection | None = None
        self.crumb = Breadcrumb()
        self.pstore = Pstore()
        self.fault_dir = tempfile.TemporaryDirectory(prefix="kfuzz-worker-")
        self.fault_path = str(Path(self.fault_dir.name) / "faulthandler.txt")
        if tmp_dir is None:
            tmp_dir = str(Path(self.fault_dir.name) / "tmp")
            os.mkdir(tmp_dir)
        self.tmp_dir = tmp_dir  # the worker's temporary directory: module code may write there
        self.restarts = 0
        self._settings: dict[str, str] = {}
        self._pending_begin = False
        self._case_lost = False  # the worker died or was killed during this test case
        self._module_files = {str(img.path.resolve()): name for name, img in index.images.items()}

    # -- the process ----------------------------------------------------------------
    def start(self) -> None:
        if self.pin and self._affinity is None and hasattr(os, "sched_setaffinity"):
            cpu = current_cpu()
            self._affinity = os.sched_getaffinity(0)
            if cpu is not None and cpu in self._affinity:
                os.sched_setaffinity(0, {cpu})  # the worker inherits it at fork
        parent, child = multiprocessing.Pipe()
        fault_fd = os.open(self.fault_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)

        def work() -> None:
            _worker_main(child, self.index, self.op_timeout, self.crumb, self.pstore, fault_fd,
                         self.memory_mb, self.tmp_dir)

        gc.freeze()  # the worker's collector leaves the inherited heap alone (no copy-on-write)
        try:
            self.proc = Child(work, keep=(child.fileno(), fault_fd))
        finally:
            gc.unfreeze()
            child.close()
            os.close(fault_fd)
        self.conn = parent
        self.seen = ReplyState()  # a fresh worker sends its nodes and modules whole
        self.poller = select.poll()
        self.poller.register(parent.fileno(), select.POLLIN)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None
        self.restarts += 1
        self._case_lost = True

    def abort(self) -> None:
        """A request may have been cut off mid-way: the worker cannot be trusted."""
        self.kill()

    def close(self) -> None:
        if self.proc is not None and self.conn is not None:
            try:
                self.conn.send_bytes(encode_request(None))
            except OSError:
                pass
            self.proc.wait(2)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.wait(2)
            self.conn.close()
            self.proc = self.conn = None
        if self._affinity is not None:
            os.sched_setaffinity(0, self._affinity)
            self._affinity = None
        self.fault_dir.cleanup()

    def request(self, request: Request, timeout: float) -> Reply | Outcome:
        if self.proc is None:
            self.start()
        assert self.conn is not None
        try:
            self.conn.send_bytes(encode_request(request))
            if not self._answered(timeout):
                crumb, during = self.crumb.read(), self.pstore.operation()
                self.kill()
                raise WorkerLost(hang_finding(crumb, timeout, during))
            status, value = decode_reply(self.conn.recv_bytes(), self.seen)
        except (EOFError, OSError):
            raise WorkerLost(self._death()) from None
        if status == "error":
            raise RuntimeError(f"kfuzz worker failed on {request!r}:\n{value}")
        assert isinstance(value, (Reply, Outcome))
        finding = value.finding
        if finding is not None and finding.kind is Kind.HANG:
            self.kill()  # it answered, but module code was cut off mid-way: start clean
        return value

    def _answered(self, timeout: float) -> bool:
        """Waits for the worker's answer while it makes progress: `timeout` seconds
        for each operation it starts (a whole program is many operations)."""
        started = self.pstore.started()
        deadline = time.monotonic() + timeout
        while not self.poller.poll(min(timeout, PROGRESS_EVERY) * 1000):
            now, seen = time.monotonic(), self.pstore.started()
            if seen != started:
                started, deadline = seen, now + timeout
            elif now >= deadline:
                return False
        return True

    def _death(self) -> Finding:
        crumb, during = self.crumb.read(), self.pstore.operation()
        exitcode = None
        if self.proc is not None:
            self.proc.wait(5)
            exitcode = self.proc.exitcode
        try:
            dump = Path(self.fault_path).read_text()
        except OSError:
            dump = ""
        self.kill()
        Path(self.fault_path).write_text("")
        return crash_finding(exitcode, crumb, dump, self._module_files, during)

    # -- the executor interface -------------------------------------------------------
    def begin(self, settings: dict[str, str]) -> None:
        self._settings = settings
        self._pending_begin = True
        self._case_lost = False

    def _fresh(self) -> dict[str, str] | None:
        """The settings to begin a kernel with, sent with a test case's first request."""
        if self._pending_begin:
            self._pending_begin = False
            return self._settings
        return None

    def _reply(self, request: Request) -> Reply:
        if self._case_lost:  # its kernel is gone: the rest of the test case cannot run
            return Reply("-EIO")
        try:
            reply = self.request(request, timeout=self.op_timeout * WALL_FACTOR + GRACE)
        except WorkerLost as lost:
            return Reply("-EIO", lost.finding, dmesg=self.pstore.dmesg())
        assert isinstance(reply, Reply)
        return reply

    def step(self, op: Op) -> Reply:
        return self._reply(StepRequest(op, self._fresh()))

    def end(self) -> Reply:
        return self._reply(EndRequest(self._fresh()))

    def run(self, prog: Program) -> Outcome:
        # each operation has its own timers in the worker; the bound here, per
        # operation started, catches module code the timer signals cannot interrupt
        # (a loop inside C code)
        try:
            outcome = self.request(RunRequest(prog), timeout=self.op_timeout * WALL_FACTOR + GRACE)
        except WorkerLost as lost:
            return Outcome(lost.finding, self.pstore.dmesg(), [], "D")
        assert isinstance(outcome, Outcome)
        return outcome


def make_executor(isolation: str, index: ModuleIndex, op_timeout: float = 1.0) -> Executor:
    if isolation == "fork":
        return ForkExecutor(index, op_timeout)
    if isolation == "inprocess":
        return InProcessExecutor(index, op_timeout)
    raise ValueError(f"unknown isolation '{isolation}' (fork or inprocess)")
