"""Fault injection: `fail_nth` makes the N-th fallible call of an operation fail.

Every fallible call is counted, armed or not, so that an operation's outcome says
how many fallible calls it made: a fail_nth sweep (kfuzz check) stops at the first
N past that count, as syzkaller's does when the fault no longer fires.
"""

from __future__ import annotations

from .current import current
from .frames import Site, caller_site


class Faults:
    """Counts the fallible calls module code makes during one operation."""

    def __init__(self) -> None:
        self.nth = 0
        self.count = 0  # fallible calls made since the operation began
        self.failed_at: Site | None = None  # the call that fail_nth made fail

    def arm(self, nth: int | None) -> None:
        self.nth = nth or 0
        self.count = 0
        self.failed_at = None

    def disarm(self) -> None:
        """At the operation's end: no more failures; its count and site stay readable."""
        self.nth = 0

    def should_fail(self) -> bool:
        self.count += 1
        return self.nth > 0 and self.count == self.nth


def should_fail(what: str) -> bool:
    """Called at the top of every fallible kapi function."""
    kernel = current()
    if not kernel.faults.should_fail():
        return False
    site = caller_site()
    kernel.faults.failed_at = site
    where = f" in {site.function}" if site else ""
    kernel.log.write(f"FAULT_INJECTION: forcing a failure: {what}{where}")
    return True
