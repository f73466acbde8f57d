"""Finding the guilty frame: the innermost module function, kernel frames skipped."""

from __future__ import annotations

import linecache
import sys
from dataclasses import dataclass
from types import FrameType, TracebackType

from .findings import FrameRef
from .module import Module

# frames a title never names: the function they are written in is named instead
ANONYMOUS = ("<listcomp>", "<genexpr>", "<dictcomp>", "<setcomp>", "<lambda>")


@dataclass(frozen=True)
class Site:
    """A place in module code: what KASAN prints as an allocation or access site."""

    module: str
    function: str
    filename: str
    lineno: int

    def format(self) -> str:
        if self.filename == "<kernel>":  # the kernel's own doing, on behalf of the module
            return f"  in the kernel: {self.function}"
        line = linecache.getline(self.filename, self.lineno).strip()
        text = f'  File "{self.filename}", line {self.lineno}, in {self.function}'
        return f"{text}\n    {line}" if line else text

    def ref(self) -> FrameRef:
        """The site as plain data, for a finding (no module object, no source line)."""
        return FrameRef(self.filename, self.lineno, self.function)


def _frame_module(frame: FrameType) -> Module | None:
    mod = frame.f_globals.get("THIS_MODULE")
    return mod if isinstance(mod, Module) else None


def _site(frame: FrameType, mod: Module) -> Site:
    code = frame.f_code
    name = code.co_name if code.co_name != "<module>" else f"{mod.name}_module_body"
    return Site(mod.name, name, code.co_filename, frame.f_lineno)


def module_stack(frame: FrameType | None = None) -> list[Site]:
    """Module frames from the innermost outwards."""
    frame = frame or sys._getframe(1)
    out = []
    while frame is not None:
        mod = _frame_module(frame)
        if mod is not None:
            out.append(_site(frame, mod))
        frame = frame.f_back
    return out


def caller_site(prefer: Module | None = None) -> Site | None:
    """The innermost module function on the stack (see guilty_site), or the
    innermost one of `prefer` when `prefer` has one."""
    frame: FrameType | None = sys._getframe(1)
    mine: list[Site] = []
    other: list[Site] = []
    while frame is not None:
        mod = _frame_module(frame)
        if mod is not None:
            (mine if prefer is None or mod is prefer else other).append(_site(frame, mod))
            if mine and mine[-1].function not in ANONYMOUS:
                break
        frame = frame.f_back
    return guilty_site(mine) or guilty_site(other)


def traceback_sites(tb: TracebackType | None) -> list[Site]:
    """Module frames of an exception's traceback, innermost first."""
    out = []
    while tb is not None:
        mod = _frame_module(tb.tb_frame)
        if mod is not None:
            code = tb.tb_frame.f_code
            name = code.co_name if code.co_name != "<module>" else f"{mod.name}_module_body"
            out.append(Site(mod.name, name, code.co_filename, tb.tb_lineno))
        tb = tb.tb_next
    out.reverse()
    return out


def guilty_site(stack: list[Site]) -> Site | None:
    """The site a title names: the innermost named function of module code. A
    comprehension or lambda is blamed on the function it is written in."""
    for s in stack:
        if s.function not in ANONYMOUS:
            return s
    return stack[0] if stack else None


def format_stack(sites: list[Site]) -> list[str]:
    """A Python-style traceback, outermost first, of module frames only."""
    return [s.format() for s in reversed(sites)]


def api_call(frame: FrameType | None = None) -> str:
    """The kernel function module code called that led here (`mutex_lock` for a point
    reached inside it): the outermost kernel frame below the innermost module frame.
    With no module code on the stack (the kernel's own teardown), the innermost one."""
    frame = frame or sys._getframe(1)
    first = name = frame.f_code.co_name
    while frame is not None:
        if _frame_module(frame) is not None:
            return name
        name = frame.f_code.co_name
        frame = frame.f_back
    return first
