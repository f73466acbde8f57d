"""Completions (kernel/sched/completion.c): one side waits until the other says done.

`done` counts completions not yet consumed: `complete` adds one and wakes a waiter,
`complete_all` makes it saturate (every wait returns until `reinit_completion`), and
each wait consumes one.
"""

from __future__ import annotations

from .current import current
from .errno import ERESTARTSYS
from .sched import SIGNALLED, TIMED_OUT, Wait

UINT_MAX = (1 << 32) - 1


class Completion:
    """`struct completion`."""

    def __init__(self) -> None:
        self.done = 0

    def __repr__(self) -> str:
        return f"<completion done={self.done}>"


def init_completion() -> Completion:
    return Completion()


DECLARE_COMPLETION = init_completion


def reinit_completion(x: Completion) -> None:
    x.done = 0


def complete(x: Completion) -> None:
    kernel = current()
    kernel.sched.point()
    if kernel.kcsan is not None:
        kernel.kcsan.release(x)
    if x.done != UINT_MAX:
        x.done += 1


def complete_all(x: Completion) -> None:
    kernel = current()
    kernel.sched.point()
    if kernel.kcsan is not None:
        kernel.kcsan.release(x)
    x.done = UINT_MAX


def completion_done(x: Completion) -> bool:
    if not x.done:
        return False
    _ordered(x)
    return True


def try_wait_for_completion(x: Completion) -> bool:
    if not x.done:
        return False
    _consume(x)
    _ordered(x)
    return True


def _ordered(x: Completion) -> None:
    """x->wait.lock: what the completer did happens before what follows a done test."""
    kernel = current()
    if kernel.kcsan is not None:
        kernel.kcsan.acquire(x)


def _consume(x: Completion) -> None:
    if x.done != UINT_MAX:
        x.done -= 1


def _wait(x: Completion, interruptible: bool, timeout: int | None, call: str) -> int:
    """`__wait_for_common`: the jiffies left (at least 1), 0 on a timeout,
    -ERESTARTSYS on a signal."""
    kernel = current()
    kernel.locking.might_sleep(call)
    if not isinstance(x, Completion):
        raise TypeError(f"{call}: not a completion: {x!r}")
    deadline = None if timeout is None else kernel.jiffies + max(0, int(timeout))
    if not x.done and deadline is not None and deadline <= kernel.jiffies:
        return 0  # a timeout of 0: do_wait_for_common does not sleep
    if not x.done:
        why = kernel.sched.block(Wait(f"{call} on {x!r}", lambda: x.done > 0, deadline, interruptible))
        if why == SIGNALLED:
            return -ERESTARTSYS
        if why == TIMED_OUT:
            return 0
    _consume(x)
    if kernel.kcsan is not None:
        kernel.kcsan.acquire(x)
    return 1 if deadline is None else max(1, deadline - kernel.jiffies)


def wait_for_completion(x: Completion) -> None:
    _wait(x, False, None, "wait_for_completion")


def wait_for_completion_timeout(x: Completion, timeout: int) -> int:
    return _wait(x, False, timeout, "wait_for_completion_timeout")


def wait_for_completion_interruptible(x: Completion) -> int:
    ret = _wait(x, True, None, "wait_for_completion_interruptible")
    return ret if ret < 0 else 0


def wait_for_completion_interruptible_timeout(x: Completion, timeout: int) -> int:
    return _wait(x, True, timeout, "wait_for_completion_interruptible_timeout")


def wait_for_completion_killable(x: Completion) -> int:
    ret = _wait(x, True, None, "wait_for_completion_killable")
    return ret if ret < 0 else 0
