"""The fuzzer's draws, made on Hypothesis's choice sequence itself.

Hypothesis stays the generator and the shrinker: every draw here is a choice in
the test case's sequence, which it mutates, replays and shrinks as its own. What
this skips is the layer a property test wants and a fuzzer pays for on every
draw: `st.data().draw`'s argument checks, its note text, its check that the
strategy left the `random` module alone (two copies of the Mersenne state a
draw), and a strategy object where one integer is the whole choice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from hypothesis import strategies as st
from hypothesis.internal.conjecture.data import ConjectureData

T = TypeVar("T")


class Choices:
    """One test case's draws: an index, a boolean, or a strategy's value."""

    __slots__ = ("cd",)

    def __init__(self, cd: ConjectureData):
        self.cd = cd

    def index(self, n: int) -> int:
        """0 to n-1, shrinking toward 0 (what sampled_from draws); no choice when n is 1."""
        return self.cd.draw_integer(0, n - 1) if n > 1 else 0

    def pick(self, items: Sequence[T]) -> T:
        return items[self.index(len(items))]

    def boolean(self, p: float = 0.5, forced: bool | None = None) -> bool:
        return self.cd.draw_boolean(p, forced=forced)

    def binary(self, min_size: int, max_size: int) -> bytes:
        return self.cd.draw_bytes(min_size, max_size)

    def integer(self, lo: int, hi: int) -> int:
        """lo to hi, the bounds and their neighbours more often (as st.integers draws)."""
        weights = None
        if hi - lo > 127:
            weights = {lo: 2 / 128, lo + 1: 1 / 128, hi - 1: 1 / 128, hi: 2 / 128}
        return self.cd.draw_integer(lo, hi, weights=weights)

    def draw(self, source: Draw[T] | st.SearchStrategy[T], label: str | None = None) -> T:
        """A value of SOURCE: a Draw below, or a strategy for what has no Draw (LABEL
        names the draw for a reader of the code only)."""
        if isinstance(source, Draw):
            return source(self)
        return self.cd.draw(source)

    def begin(self, label: int) -> None:
        """Starts a span: Hypothesis's mutator copies and swaps spans of one label."""
        self.cd.start_span(label)

    def end(self) -> None:
        self.cd.stop_span()


class Draw(Generic[T]):
    """What the fuzzer draws most, as the few choices it is: the strategies of the
    same names, without a strategy's own span and checks around each."""

    def __call__(self, data: Choices) -> T:
        raise NotImplementedError


class Pick(Draw[T]):
    """st.sampled_from: one of ITEMS, the first what shrinking goes to."""

    def __init__(self, items: Sequence[T]):
        self.items = list(items)

    def __call__(self, data: Choices) -> T:
        return data.pick(self.items)


class Ints(Draw[int]):
    """st.integers(lo, hi)."""

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi

    def __call__(self, data: Choices) -> int:
        return data.integer(self.lo, self.hi)


class Bytes(Draw[bytes]):
    """st.binary(min_size, max_size)."""

    def __init__(self, min_size: int = 0, max_size: int = 80):
        self.min_size, self.max_size = min_size, max_size

    def __call__(self, data: Choices) -> bytes:
        return data.binary(self.min_size, self.max_size)


class OneOf(Draw[T]):
    """st.one_of (`a | b`): one of the draws, each as likely."""

    def __init__(self, *options: Draw[T]):
        self.options = options

    def __call__(self, data: Choices) -> T:
        return self.options[data.index(len(self.options))](data)


class Mapped(Draw[T]):
    """strategy.map(f)."""

    def __init__(self, inner: Draw[Any], f: Callable[[Any], T]):
        self.inner, self.f = inner, f

    def __call__(self, data: Choices) -> T:
        return self.f(self.inner(data))
