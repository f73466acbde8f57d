"""poll(2) and the driver's side of it: `poll_wait` names the queues a wake-up of
which makes the file worth polling again (fs/select.c do_poll, include/linux/poll.h)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .errno import EINTR
from .sched import SIGNALLED, Wait
from .waitqueue import WaitEntry, WaitQueueHead

if TYPE_CHECKING:
    from .core import Kernel
    from .fs import File

# include/uapi/linux/eventpoll.h
EPOLLIN = 0x1
EPOLLPRI = 0x2
EPOLLOUT = 0x4
EPOLLERR = 0x8
EPOLLHUP = 0x10
EPOLLNVAL = 0x20  # the descriptor is not open (fs/select.c do_pollfd)
EPOLLRDNORM = 0x40
EPOLLRDBAND = 0x80
EPOLLWRNORM = 0x100
EPOLLWRBAND = 0x200
EPOLLRDHUP = 0x2000
POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP = EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP
POLLRDNORM, POLLWRNORM, POLLRDHUP = EPOLLRDNORM, EPOLLWRNORM, EPOLLRDHUP
# fs/select.c: a file without ->poll is always ready
DEFAULT_POLLMASK = EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM
# what the `poll` operation asks for (POLLIN | POLLOUT | POLLPRI); errors and hang-ups always count
POLL_EVENTS = EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDNORM | EPOLLWRNORM | EPOLLERR | EPOLLHUP


class PollTable:
    """`poll_table`: the wait entries poll_wait added for one pass of the driver's poll."""

    def __init__(self) -> None:
        self.entries: list[tuple[WaitQueueHead, WaitEntry]] = []

    def woken(self) -> bool:
        return any(entry.woken for _, entry in self.entries)

    def free(self) -> None:
        """poll_freewait: off every queue."""
        for wq, entry in self.entries:
            if entry in wq.entries:
                wq.entries.remove(entry)
        self.entries.clear()


def poll_wait(filp: File, wait_address: WaitQueueHead, p: PollTable | None) -> None:
    """Adds the polling task to the queue; a NULL table (a poll not waiting) adds nothing."""
    if p is None or wait_address is None:
        return
    if not isinstance(wait_address, WaitQueueHead):
        raise TypeError(f"poll_wait: not a wait queue head: {wait_address!r}")
    entry = WaitEntry(True)
    wait_address.entries.append(entry)
    p.entries.append((wait_address, entry))


def do_poll(kernel: Kernel, file: File, call: Callable[[PollTable], object]) -> object:
    """Polls until the mask has an event asked for, sleeping interruptibly between
    passes until a queue the driver named is woken; 0 when it named none (the poll's
    timeout would pass), -EINTR on a signal."""
    while True:
        if file.closed:  # closed by another thread while this one slept: fdget fails
            return EPOLLNVAL
        table = PollTable()
        mask = call(table)
        if not isinstance(mask, int) or mask < 0 or mask & POLL_EVENTS or not table.entries:
            table.free()
            return mask
        why = kernel.sched.block(Wait(f"poll on {file.node.path}", table.woken, None, True))
        table.free()
        if why == SIGNALLED:
            return -EINTR
