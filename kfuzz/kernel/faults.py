"""Fault injection: `fail_nth` makes the N-th fallible call of an operation fail."""

from __future__ import annotations

from .current import current
from .frames import caller_site


class Faults:
    """Counts the fallible calls module code makes during one operation."""

    def __init__(self) -> None:
        self.nth = 0
        self.count = 0

    def arm(self, nth: int | None) -> None:
        self.nth = nth or 0
        self.count = 0

    def should_fail(self) -> bool:
        if not self.nth:
            return False
        self.count += 1
        return self.count == self.nth


def should_fail(what: str) -> bool:
    """Called at the top of every fallible kapi function."""
    kernel = current()
    if not kernel.faults.should_fail():
        return False
    site = caller_site()
    where = f" in {site.function}" if site else ""
    kernel.log.write(f"FAULT_INJECTION: forcing a failure: {what}{where}")
    return True
