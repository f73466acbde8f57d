"""Module code that tries to leave its worker: an `escape` finding, raised before the
call runs, so the call never happens; the worker lives on and the next test case is
clean. Writing into the temporary directory and reading any file are allowed."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kfuzz.executor import escape
from kfuzz.executor.inprocess import InProcessExecutor
from kfuzz.executor.worker import ForkExecutor
from kfuzz.kernel import Finding, ModuleIndex
from kfuzz.prog import Op, Reply, parse_op, parse_program, run_program

OPEN = parse_op("open /dev/x -> fd0")
TOUCH = shutil.which("touch") or "/usr/bin/touch"


def title(what: str) -> str:
    return f"BUG: module escaped its kernel: {what} in x_ioctl"


@pytest.fixture
def tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary directory of this test's processes: a folder of its own, so that
    the rest of tmp_path is outside it (the worker inherits the setting at fork)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A process module code has no business signalling, in a process group of its own."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def device(lab, code: str, **names: object) -> Path:  # noqa: ANN001
    """Module x: a device whose ioctl 1 runs `code` (`names` are its globals) and
    whose ioctl 2 returns 0."""
    header = "import os, pathlib, pty, resource, signal, subprocess, sys\n"
    header += "".join(f"{name} = {value!r}\n" for name, value in names.items())
    body = "".join(f"        {line}\n" for line in textwrap.dedent(code).strip("\n").splitlines())
    return lab.device("x", f"{header}\n\ndef x_ioctl(file, cmd, arg):\n    if cmd == 1:\n{body}"
                           "    return 0\n")


def case(executor: ForkExecutor | InProcessExecutor, *ops: Op) -> list[Reply]:
    executor.begin({})
    replies = [executor.step(op) for op in (parse_op("insmod x"), OPEN, *ops)]
    return replies + [executor.end()]


def escapes(executor: ForkExecutor | InProcessExecutor, what: str) -> Finding:
    """Runs ioctl 1: an escape with `what`'s title; then a clean case in the same worker."""
    replies = case(executor, parse_op("ioctl fd0 1 0"))
    finding = replies[2].finding
    assert finding is not None, replies
    assert (finding.kind, finding.title, finding.module) == ("escape", title(what), "x"), finding
    assert finding.site is not None and finding.site.function == "x_ioctl"
    assert "refused before it ran" in finding.message
    after = case(executor, parse_op("ioctl fd0 2 0"))
    assert [r.finding for r in after] == [None] * 4 and after[2].result == 0, after
    assert executor.restarts == 0  # the same worker: it was never in danger
    return finding


@pytest.fixture
def fork(lab, tmp) -> Iterator[Callable[[], ForkExecutor]]:  # noqa: ANN001
    """A fork executor on the lab's modules, made once the test has written module x;
    its worker's temporary directory is `tmp`."""
    made: list[ForkExecutor] = []

    def make() -> ForkExecutor:
        made.append(ForkExecutor(ModuleIndex.scan(lab.paths), op_timeout=0.5, memory_mb=256,
                                 tmp_dir=str(tmp)))
        return made[-1]

    yield make
    for executor in made:
        executor.close()


def worker_pid(executor: ForkExecutor) -> int:
    assert executor.proc is not None
    return executor.proc.pid


# -- kill ---------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["os.kill(VICTIM, signal.SIGTERM)", "os.killpg(VICTIM, signal.SIGTERM)"],
                         ids=["kill", "killpg"])
def test_signalling_another_process_is_an_escape_and_sends_nothing(lab, fork, tmp, victim, code) -> None:  # noqa: ANN001
    device(lab, code, VICTIM=victim.pid)
    finding = escapes(fork(), "kill")
    assert "signal 15" in finding.message
    time.sleep(0.2)
    assert victim.poll() is None  # still alive: the signal was never sent


def test_signalling_itself_stays_a_crash_and_signal_0_is_allowed(lab, fork, tmp) -> None:  # noqa: ANN001
    device(lab, "os.kill(os.getpid(), 0)\nos.kill(os.getpid(), signal.SIGKILL)")
    executor = fork()
    finding = case(executor, parse_op("ioctl fd0 1 0"))[2].finding
    assert finding is not None and (finding.kind, finding.title) == (
        "crash", "kernel process killed by SIGKILL in x_ioctl")


# -- fork and exec ------------------------------------------------------------------------
@pytest.mark.parametrize(("what", "code"), [
    ("fork", "if os.fork() == 0:\n    open(MARKER, 'w').close()\n    os._exit(0)"),
    ("fork", "if pty.fork()[0] == 0:\n    open(MARKER, 'w').close()\n    os._exit(0)"),
    ("exec", "subprocess.run([TOUCH, MARKER])"),
    ("exec", "os.system(TOUCH + ' ' + MARKER)"),
    ("exec", "os.execv(TOUCH, [TOUCH, MARKER])"),
    ("exec", "os.posix_spawn(TOUCH, [TOUCH, MARKER], dict(os.environ))"),
], ids=["fork", "forkpty", "subprocess", "system", "execv", "posix_spawn"])
def test_fork_and_exec_are_escapes_and_start_nothing(lab, fork, tmp, what, code) -> None:  # noqa: ANN001
    marker = tmp / "ran"  # inside the temporary directory: a child would be let write it
    device(lab, code, MARKER=str(marker), TOUCH=TOUCH)
    escapes(fork(), what)
    time.sleep(0.2)
    assert not marker.exists()


# -- chdir, setrlimit ---------------------------------------------------------------------
@pytest.mark.parametrize("code", ["os.chdir(WHERE)", "os.fchdir(os.open(WHERE, os.O_RDONLY))"],
                         ids=["chdir", "fchdir"])
def test_changing_directory_is_an_escape_and_the_worker_stays_put(lab, fork, tmp, tmp_path, code) -> None:  # noqa: ANN001
    device(lab, code, WHERE=str(tmp_path))
    executor = fork()
    executor.start()
    before = os.readlink(f"/proc/{worker_pid(executor)}/cwd")
    escapes(executor, "chdir")
    assert os.readlink(f"/proc/{worker_pid(executor)}/cwd") == before == os.getcwd()


def test_setting_a_limit_is_an_escape_and_the_limit_stays(lab, fork, tmp) -> None:  # noqa: ANN001
    device(lab, "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
                "resource.setrlimit(resource.RLIMIT_NOFILE, (16, hard))")
    executor = fork()
    executor.start()
    before = resource.prlimit(worker_pid(executor), resource.RLIMIT_NOFILE)
    finding = escapes(executor, "setrlimit")
    assert "RLIMIT_NOFILE" in finding.message
    assert resource.prlimit(worker_pid(executor), resource.RLIMIT_NOFILE) == before


# -- files --------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [
    "open(WHERE, 'w')", "open(WHERE, 'a')", "open(WHERE, 'r+').write('changed')",
    "pathlib.Path(WHERE).write_text('x')", "os.open(WHERE, os.O_WRONLY | os.O_CREAT)", "open(LINK, 'w')",
], ids=["w", "a", "r+", "write_text", "os.open", "symlink-out-of-tmp"])
def test_writing_outside_the_temporary_directory_is_an_escape(lab, fork, tmp, tmp_path, code) -> None:  # noqa: ANN001
    outside = tmp_path / "outside.txt"
    if "r+" in code:
        outside.write_text("untouched")
    link = tmp / "link"
    link.symlink_to(outside)
    device(lab, code, WHERE=str(outside), LINK=str(link))
    finding = escapes(fork(), "file write")
    assert str(outside) in finding.message
    assert (outside.read_text() if outside.exists() else None) == ("untouched" if "r+" in code else None)


def test_writing_into_the_temporary_directory_and_reading_anything_is_allowed(lab, fork, tmp,
                                                                              tmp_path) -> None:  # noqa: ANN001
    lib = tmp_path / "lib"  # an import from a folder outside tmp writes its bytecode cache there
    lib.mkdir()
    (lib / "x_helper_for_escape.py").write_text("ANSWER = 42\n")
    code = """
    pathlib.Path(INSIDE).write_text("from module code")
    with open(os.path.join(os.path.dirname(INSIDE), "more"), "a") as f:
        f.write("more")
    with open(os.devnull, "w") as f:
        f.write("nothing")
    mine = pathlib.Path(__file__).read_text()
    with open("/etc/hostname" if os.path.exists("/etc/hostname") else __file__, "rb") as f:
        f.read()
    sys.path.insert(0, LIB)
    import x_helper_for_escape
    sys.path.remove(LIB)
    return len(mine) + x_helper_for_escape.ANSWER - 42
    """
    path = device(lab, code, INSIDE=str(tmp / "note.txt"), LIB=str(lib))
    replies = case(fork(), parse_op("ioctl fd0 1 0"))
    assert [r.finding for r in replies] == [None] * 4, replies
    assert replies[2].result == len(path.read_text())
    assert (tmp / "note.txt").read_text() == "from module code"
    assert (tmp / "more").read_text() == "more"
    if not sys.dont_write_bytecode:
        assert list((lib / "__pycache__").glob("x_helper_for_escape.*.pyc"))


# -- the fuzzer's own process ---------------------------------------------------------------
def test_in_process_the_hook_watches_only_while_the_executor_serves(lab, tmp, tmp_path,  # noqa: ANN001
                                                                    monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(os.getcwd())  # restored after the test, whatever happens
    outside = tmp_path / "outside.txt"
    path = device(lab, "os.chdir(WHERE)\nopen(OUTSIDE, 'w').close()", WHERE="/", OUTSIDE=str(outside))
    executor = InProcessExecutor(ModuleIndex.scan(lab.paths), op_timeout=0.5)
    here = os.getcwd()
    escapes(executor, "chdir")
    assert os.getcwd() == here
    # run_program outside an executor is not watched: a library caller's process is its own
    prog = parse_program(f"# modules: {path}\ninsmod x\nopen /dev/x -> fd0\nioctl fd0 1 0\n")
    assert run_program(prog).finding is None
    assert os.getcwd() == "/" and outside.exists()


def test_module_code_with_no_kernel_running_is_refused_all_the_same(lab, tmp, victim) -> None:  # noqa: ANN001
    """Module code after its operation ended (a thread it started): no kernel to report
    to, but the call is refused."""
    device(lab, "pass")
    lab.boot()
    assert lab.insmod("x") == 0
    module_globals = {"os": os, "signal": signal, "VICTIM": victim.pid,
                      "THIS_MODULE": lab.kernel.loader.modules["x"]}
    escape.arm()
    try:
        with pytest.raises(PermissionError, match="may not kill"):
            exec(compile("os.kill(VICTIM, signal.SIGTERM)", str(lab.paths[0]), "exec"), module_globals)
    finally:
        escape.disarm()
    time.sleep(0.1)
    assert victim.poll() is None


def test_the_worker_has_a_temporary_directory_of_its_own(lab, tmp_path) -> None:  # noqa: ANN001
    # module code may write in its worker's temporary directory, which tempfile gives
    # it; the machine's shared one is outside, as the rest of the file system is
    device(lab, "import tempfile\npathlib.Path(tempfile.gettempdir(), 'mine').write_text('ok')\n"
                "if arg:\n    open(SHARED, 'w')", SHARED=str(tmp_path / "shared.txt"))
    executor = ForkExecutor(ModuleIndex.scan(lab.paths), op_timeout=0.5)
    try:
        assert [r.finding for r in case(executor, parse_op("ioctl fd0 1 0"))] == [None] * 4
        assert (Path(executor.tmp_dir) / "mine").read_text() == "ok"
        assert Path(executor.tmp_dir) != Path(tempfile.gettempdir())  # not the shared one
        finding = case(executor, parse_op("ioctl fd0 1 1"))[2].finding
        assert finding is not None and finding.title == title("file write")
    finally:
        executor.close()
    assert not Path(executor.tmp_dir).exists()  # removed with the worker
