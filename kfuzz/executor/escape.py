"""Module code that tries to act outside its kernel: an audit hook makes it an `escape`.

A kernel module cannot signal other processes, fork, exec, change the working
directory or limits, or write files wherever it likes; module code here is Python
and could. `sys.addaudithook` sees each of these before it happens: when module
code is on the stack, the hook reports an `escape` finding, fatal like an oops,
and its KernelStop (raised from the hook) means the call never runs.

Watched: `os.kill` of any process but this one (signal 0, which sends nothing,
is allowed) and every `os.killpg`; fork and exec in all their forms; `os.chdir`
and `os.fchdir`; `resource.setrlimit` and a `resource.prlimit` that sets; and
opening a file for writing outside the temporary directory (`/dev/null` and
Python writing an import's bytecode cache are allowed; reading is allowed).

An audit hook cannot be removed, so it stays for the process's life and acts only
while armed: the fork worker arms it for good, the in-process executor only while
it serves a request. Disarmed, or armed with no module code on the stack (the
kernel's and the worker's own calls), it returns at once. ctypes and C extensions
can go around an audit hook: this catches mistakes, it is not a sandbox.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import threading
from types import FrameType

from ..kernel import titles
from ..kernel.current import running_kernel
from ..kernel.frames import module_stack

# audit event -> the word the title uses: fixed words, so a title is stable
WATCHED: dict[str, str] = {
    "os.kill": "kill", "os.killpg": "kill",
    "os.fork": "fork", "os.forkpty": "fork",
    "os.exec": "exec", "os.posix_spawn": "exec", "os.spawn": "exec", "os.system": "exec",
    "subprocess.Popen": "exec",
    "os.chdir": "chdir",
    "resource.setrlimit": "setrlimit", "resource.prlimit": "setrlimit",
    "open": "file write",
}
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
LIMITS: dict[int, str] = {}
for _name in sorted(n for n in dir(resource) if n.startswith("RLIMIT_")):
    LIMITS.setdefault(getattr(resource, _name), _name)  # RLIMIT_NOFILE, not its alias RLIMIT_OFILE


class _Hook:
    installed = False
    armed = 0  # > 0 while module code may run under the hook's eye
    local = threading.local()  # .busy: this thread is in the hook already


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _bytecode_cache(frame: FrameType) -> bool:
    """Whether the import system is writing a .pyc (an import in module code)."""
    code = frame.f_code
    return code.co_name == "_write_atomic" and code.co_filename.startswith("<frozen importlib")


def refusal(event: str, args: tuple[object, ...], frame: FrameType) -> str | None:
    """What the call would do, in words; None when module code may do it."""
    if event == "open":
        path, _, flags = args
        if not isinstance(flags, int) or not flags & WRITING:
            return None  # reading
        if not isinstance(path, (str, bytes, os.PathLike)):
            return None  # a descriptor opened already
        real = os.path.realpath(os.fsdecode(path))
        tmp = os.path.realpath(tempfile.gettempdir())
        if _inside(real, tmp) or real == os.devnull or _bytecode_cache(frame):
            return None
        return f"opened {real} for writing, outside the temporary directory {tmp}"
    if event == "os.kill":
        pid, sig = args
        if pid == os.getpid() or sig == 0:
            return None
        return f"sent signal {sig} to process {pid}, which is not its kernel's ({os.getpid()})"
    if event == "os.killpg":
        return f"sent signal {args[1]} to process group {args[0]}"
    if event in ("os.fork", "os.forkpty"):
        return f"called {event}()"
    if event == "os.system":
        return f"ran the shell command {args[0]!r}"
    if event in ("os.exec", "os.posix_spawn"):
        return f"ran {args[0]!r} with {event}, arguments {args[1]!r}"
    if event == "os.spawn":
        return f"ran {args[1]!r} with os.spawn, arguments {args[2]!r}"
    if event == "subprocess.Popen":
        return f"ran {args[1]!r} with subprocess"
    if event == "os.chdir":
        return f"changed the working directory to {args[0]!r}"
    which, limits = args[-2:]
    if limits is None:  # resource.prlimit that only reads
        return None
    name = LIMITS.get(which, str(which)) if isinstance(which, int) else str(which)
    return f"set {name} to {limits!r}"


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event not in WATCHED or not _Hook.armed or getattr(_Hook.local, "busy", False):
        return
    _Hook.local.busy = True  # what the check and the report do themselves is not watched
    try:
        _check(event, args, sys._getframe(1))  # the frame that made the audited call
    finally:
        _Hook.local.busy = False


def _check(event: str, args: tuple[object, ...], frame: FrameType) -> None:
    said = refusal(event, args, frame)
    if said is None:
        return
    stack = module_stack(frame)
    if not stack:
        return  # the kernel's or the worker's own doing
    what = WATCHED[event]
    kernel = running_kernel()
    if kernel is None:  # module code with no operation running (a thread it started)
        raise PermissionError(f"kfuzz: module code may not {what}: it {said}")
    kernel.report(titles.ESCAPE, f"escape: module code {said}; refused before it ran", stack=stack,
                  what=what)  # raises KernelStop: the call does not happen


def arm() -> None:
    """Watches module code from now on (installs the hook on first use)."""
    tempfile.gettempdir()  # found now: finding it writes a probe file, and no hook must see that
    if not _Hook.installed:
        sys.addaudithook(_hook)
        _Hook.installed = True
    _Hook.armed += 1


def disarm() -> None:
    _Hook.armed -= 1
