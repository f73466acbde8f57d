"""What the kernel's checks report: one Finding per bug, with its stable title."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What sort of bug a finding is. The values are what report.json and report
    folder names have always said, so a member serialises as its old string."""

    MEMORY_LEAK = "memory-leak"
    USE_AFTER_FREE = "use-after-free"
    DOUBLE_FREE = "double-free"
    OUT_OF_BOUNDS = "out-of-bounds"
    DANGLING_REGISTRATION = "dangling-registration"
    UNLOADED_CODE = "unloaded-code"
    OOPS = "oops"
    ATOMIC_SLEEP = "atomic-sleep"
    LOCKDEP = "lockdep"
    REFCOUNT = "refcount"
    WARNING = "warning"
    BUG = "bug"
    HANG = "hang"
    CRASH = "crash"
    PYTHON_LEAK = "python-leak"
    ESCAPE = "escape"
    DATA_RACE = "data-race"


KINDS: tuple[str, ...] = tuple(k.value for k in Kind)


@dataclass(frozen=True)
class FrameRef:
    """The guilty frame as plain data: what report.json calls `site`."""

    file: str
    line: int
    function: str


@dataclass
class Finding:
    """A bug as a report names it: the title is its identity across runs."""

    kind: Kind
    title: str
    module: str
    function: str
    message: str = ""
    traceback: list[str] = field(default_factory=list)
    alloc_site: list[str] = field(default_factory=list)
    free_site: list[str] = field(default_factory=list)
    site: FrameRef | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values only: the kind as its string, the site as a dict or None."""
        site = self.site
        return {"kind": str(self.kind), "title": self.title, "module": self.module,
                "function": self.function, "message": self.message,
                "traceback": list(self.traceback), "alloc_site": list(self.alloc_site),
                "free_site": list(self.free_site),
                "site": None if site is None else
                {"file": site.file, "line": site.line, "function": site.function}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Reads what to_dict wrote, and older dicts that have no site."""
        names = cls.__dataclass_fields__
        values = {k: v for k, v in data.items() if k in names}
        values["kind"] = Kind(values["kind"])
        site = values.get("site")
        values["site"] = FrameRef(site["file"], int(site["line"]), site["function"]) if site else None
        return cls(**values)


class KernelStop(BaseException):
    """Unwinds module code after a fatal finding (oops, KASAN, BUG).

    A BaseException, so module code's `except Exception:` cannot swallow it.
    """

    def __init__(self, finding: Finding):
        super().__init__(finding.title)
        self.finding = finding


class LoadAbort(BaseException):
    """Aborts the execution of a module body during insmod with an errno."""

    def __init__(self, err: int, message: str):
        super().__init__(message)
        self.err = err
        self.message = message
