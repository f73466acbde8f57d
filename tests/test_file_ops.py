"""A whole struct file: flush at close, poll with poll_wait, fasync, the llseek helpers."""

from __future__ import annotations

from typing import Any

from test_uaccess import results, run

POLLER = """
wq = init_waitqueue_head()
state = {"ready": 0, "flushes": 0}
async_queue = [None]


def pl_poll(file, wait):
    poll_wait(file, wq, wait)
    return (POLLIN | POLLRDNORM) if state["ready"] else 0


def pl_write(file, buf, count, ppos):
    state["ready"] = 1
    wake_up_interruptible(wq)
    kill_fasync(async_queue, SIGIO, POLL_IN)
    return count


def pl_flush(file, id):
    state["flushes"] += 1
    return -EIO if file.f_flags & O_APPEND else 0


def pl_fasync(fd, file, on):
    return fasync_helper(fd, file, on, async_queue)


def pl_ioctl(file, cmd, arg):
    return state["flushes"] if cmd == 1 else file.sigio
"""


def test_poll_sleeps_until_a_wake_up_makes_the_file_ready(lab: Any) -> None:
    outcome = run(lab, "pl", POLLER, 'together\n  t1: poll fd0\n  t2: write fd0 "x"\npoll fd0\n')
    assert outcome.finding is None, outcome.dmesg
    assert results(outcome) == [[0x41, 1], 0x41]


def test_poll_that_nothing_makes_ready_is_interrupted_not_a_hang(lab: Any) -> None:
    outcome = run(lab, "pl", POLLER, "poll fd0\n")
    assert outcome.finding is None, outcome.dmesg
    assert results(outcome) == ["-EINTR"]


def test_flush_runs_at_every_close_and_close_returns_its_result(lab: Any) -> None:
    outcome = run(lab, "pl", POLLER, "open /dev/pl O_RDWR|O_APPEND -> fd1\nclose fd1\n"
                  "open /dev/pl -> fd2\nclose fd2\nioctl fd0 1 0\n")
    assert outcome.finding is None, outcome.dmesg
    assert results(outcome) == ["fd1", "-EIO", "fd2", 0, 2]


def test_fasync_signals_the_files_that_asked_and_is_turned_off_at_release(lab: Any) -> None:
    outcome = run(lab, "pl", POLLER, "fcntl fd0 FASYNC\nopen /dev/pl -> fd1\nfcntl fd1 FASYNC\n"
                  'close fd1\nwrite fd0 "x"\nioctl fd0 2 0\nfcntl fd0 0\nwrite fd0 "y"\nioctl fd0 2 0\n')
    assert outcome.finding is None, outcome.dmesg
    assert results(outcome) == [0, "fd1", 0, 0, 1, 1, 0, 1, 1]


def test_a_fasync_that_never_removes_the_file_is_use_after_free_at_kill_fasync(lab: Any) -> None:
    body = POLLER.replace("return fasync_helper(fd, file, on, async_queue)",
                          "return fasync_helper(fd, file, 1, async_queue)   # BUG: never off")
    outcome = run(lab, "pl", body, "open /dev/pl -> fd1\nfcntl fd1 FASYNC\nclose fd1\nwrite fd0 \"x\"\n")
    f = outcome.finding
    assert f is not None and (f.kind, f.title) == ("use-after-free", "KASAN: use-after-free in pl_write")
    assert "whose file was released" in f.message


def test_llseek_helpers_follow_fs_read_write_c(lab: Any) -> None:
    body = """
def sk_open(inode, file):
    inode.i_size = 100
    if file.f_flags & O_NONBLOCK:
        return nonseekable_open(inode, file)
    return 0


def sk_llseek(file, offset, whence):
    return default_llseek(file, offset, whence)
"""
    outcome = run(lab, "sk", body, "lseek fd0 10 SEEK_SET\nlseek fd0 5 SEEK_CUR\nlseek fd0 -1 SEEK_END\n"
                  "lseek fd0 200 SEEK_DATA\nlseek fd0 -200 SEEK_CUR\nlseek fd0 0 7\n"
                  "open /dev/sk O_RDWR|O_NONBLOCK -> fd1\nlseek fd1 0 SEEK_SET\n")
    assert outcome.finding is None, outcome.dmesg
    assert results(outcome) == [10, 15, 99, "-ENXIO", "-EINVAL", "-EINVAL", "fd1", "-ESPIPE"]


def test_noop_llseek_moves_nothing_and_succeeds(lab: Any) -> None:
    body = """
def np_llseek(file, offset, whence):
    return noop_llseek(file, offset, whence)
"""
    outcome = run(lab, "np", body, "lseek fd0 10 SEEK_SET\nlseek fd0 3 SEEK_END\n")
    assert results(outcome) == [0, 0]


def test_a_callback_of_the_wrong_shape_is_an_oops_at_its_definition(lab: Any) -> None:
    body = """
def bad_read(file, buf, count):
    return 0
"""
    outcome = run(lab, "bad", body, "read fd0 4\n")
    f = outcome.finding
    assert f is not None and (f.kind, f.title) == ("oops", "Oops: TypeError in bad_read")
    assert "the kernel calls bad_read() with 2 argument(s) (File, int)" in f.message
    assert f.site is not None and f.site.line == 5


def test_a_close_during_a_poll_releases_the_file_once_when_the_poll_returns(lab: Any) -> None:
    # __pollwait's get_file: the poll holds the file; the close's release waits for it
    releases = 'return state.get("releases", 0) if cmd == 3 else state["flushes"] if cmd == 1'
    body = POLLER.replace('return state["flushes"] if cmd == 1', releases) + '''

def pl_release(inode, file):
    state["releases"] = state.get("releases", 0) + 1
    return 0
'''
    outcome = run(lab, "pl", body, "open /dev/pl -> fd1\ntogether\n  t1: poll fd0\n  t2: close fd0\n"
                  '  t3: write fd1 "x"\nioctl fd1 3 0\n')
    assert outcome.finding is None, outcome.dmesg
    assert results(outcome) == ["fd1", [0x20, 0, 1], 1], \
        "woken after the close, the poll finds the descriptor gone (POLLNVAL); the file released once"
