"""A forked child process that holds nothing of its parent's but what it is given,
and does not outlive it.

multiprocessing's fork leaves the child every descriptor the parent had, the
parent's end of their socket pair among them, so a child whose parent was
SIGKILLed never sees EOF and lives on under init. Here the child closes every
inherited descriptor but the ones it is handed, asks the kernel for SIGKILL when
its parent dies (PR_SET_PDEATHSIG), and checks that the parent has not died
already, before the request could be made.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import time
import traceback
from collections.abc import Callable, Iterable

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies; exit now if it already has."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the closed descriptors still give EOF when the parent dies
    if os.getppid() != parent:
        os._exit(0)


def _open_descriptors() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024))


def close_inherited(keep: Iterable[int]) -> None:
    """Lets go of every descriptor but stdin, stdout, stderr and `keep`.

    Each is pointed at /dev/null rather than closed: the parent's objects copied
    into the child still hold those numbers, and one of them closing "its"
    descriptor must not close a file the child opened since under the same number.
    """
    kept = {0, 1, 2, *keep}
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in _open_descriptors():
        if fd not in kept and fd != devnull:
            try:
                os.dup2(devnull, fd)
            except OSError:
                pass
    os.close(devnull)


class Child:
    """A process forked to run `target`, keeping only the descriptors in `keep`."""

    def __init__(self, target: Callable[[], None], keep: Iterable[int]):
        parent = os.getpid()
        keep = list(keep)
        pid = os.fork()
        if pid == 0:  # the child: never returns into the parent's code
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # CI signals the whole group:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the fuzzer decides, not us
                _die_with_parent(parent)
                close_inherited(keep)
                os.setsid()  # its own session: group signals are the fuzzer's to handle
                target()
            except BaseException:  # noqa: BLE001 - whatever happens, the child ends here
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        self.pid = pid
        self.exitcode: int | None = None
        self._pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None

    def poll(self) -> int | None:
        """The exit code (negative: the signal) once the child has ended, else None."""
        if self.exitcode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return self.exitcode
            if pid:
                self.exitcode = os.waitstatus_to_exitcode(status)
                self._close_pidfd()
        return self.exitcode

    def is_alive(self) -> bool:
        return self.poll() is None

    def wait(self, timeout: float) -> int | None:
        """Waits up to `timeout` seconds for the child to end; its exit code, or None."""
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self._pidfd is not None:
                select.select([self._pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.01))
        return self.exitcode

    def kill(self) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
