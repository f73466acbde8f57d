"""What the kernel's checks report: one Finding per bug, with its stable title."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

KINDS = (
    "memory-leak", "use-after-free", "double-free", "out-of-bounds",
    "dangling-registration", "unloaded-code", "oops", "atomic-sleep", "lockdep",
    "refcount", "warning", "bug", "hang", "crash", "python-leak",
)


@dataclass
class Finding:
    """A bug as a report names it: the title is its identity across runs."""

    kind: str
    title: str
    module: str
    function: str
    message: str = ""
    traceback: list[str] = field(default_factory=list)
    alloc_site: list[str] = field(default_factory=list)
    free_site: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Finding:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


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
