"""What a module can leave behind: the one interface the unload checks walk.

Each subsystem that a module can register or allocate in says what a module still
holds there, so the checks at rmmod, at a failed init and at the end of a program
list nothing by hand: a new kind of registration touches its own file only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .frames import Site
    from .module import Module


@dataclass(frozen=True)
class Leftover:
    """One thing a module still holds: `WHAT NAME` in a dangling-registration title,
    unless the subsystem reports it as a finding of its own (`report`: a memory leak)."""

    what: str
    name: str
    site: Site | None
    report: Callable[[], object] | None = None


@runtime_checkable
class Subsystem(Protocol):
    """Where a module registers or allocates things that must be gone with it."""

    def leftovers(self, mod: Module) -> list[Leftover]:
        """What `mod` still holds here, in the order it is reported."""
        ...

    def owners(self) -> Iterable[Module | None]:
        """Every module that holds something here (None: the kernel itself)."""
        ...


def fname(fn: object) -> str:
    """A callback as a title names it."""
    return getattr(fn, "__name__", repr(fn))
