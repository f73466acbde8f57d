"""python-leak: does the Python heap grow with each load and unload cycle?

The program's operations are the cycle. After warm-up cycles, the traced heap
is compared across measured cycles, counting only memory whose allocating line
is module code: the kernel's own bookkeeping (its log, its lock classes) is the
noise this leaves out.
"""

from __future__ import annotations

import ast
import gc
import tracemalloc
from collections.abc import Callable
from functools import cache
from pathlib import Path

from ..kernel import Kernel, titles
from ..kernel.frames import Site

WARMUP = 2
CYCLES = 8
MIN_OBJECTS_PER_CYCLE = 1
MIN_BYTES = 4096


@cache
def _functions(filename: str) -> list[tuple[int, int, str]]:
    try:
        tree = ast.parse(Path(filename).read_text())
    except (OSError, SyntaxError):
        return []
    return [(n.lineno, n.end_lineno or n.lineno, n.name) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def function_at(filename: str, lineno: int, module: str) -> str:
    """The innermost function whose body holds the line."""
    best = None
    for start, end, name in _functions(filename):
        if start <= lineno <= end and (best is None or start >= best[0]):
            best = (start, name)
    return best[1] if best else f"{module}_module_body"


def check_python_leak(kernel: Kernel, cycle: Callable[[], None]) -> None:
    """Runs the cycle, measures, and reports a python-leak finding on growth."""
    files = {str(img.path.resolve()): name for name, img in kernel.index.images.items()}
    for _ in range(WARMUP):
        cycle()
        if kernel.findings:
            return
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start(1)
    try:
        gc.collect()
        before = tracemalloc.take_snapshot()
        for _ in range(CYCLES):
            cycle()
            if kernel.findings:
                return
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    only = [tracemalloc.Filter(True, f) for f in files]
    grown = [s for s in after.filter_traces(only).compare_to(before.filter_traces(only), "lineno")
             if s.size_diff > 0]
    size = sum(s.size_diff for s in grown)
    count = sum(s.count_diff for s in grown)
    if size < MIN_BYTES and count < MIN_OBJECTS_PER_CYCLE * CYCLES:
        return
    top = max(grown, key=lambda s: s.size_diff)
    frame = top.traceback[0]
    module = files[frame.filename]
    site = Site(module, function_at(frame.filename, frame.lineno, module), frame.filename, frame.lineno)
    _report(kernel, site, size, count)


def _report(kernel: Kernel, site: Site, size: int, count: int) -> None:
    from ..kernel import current

    current.push(kernel)
    try:
        kernel.report(titles.PYTHON_LEAK,
                      f"the Python heap grew by {size} bytes in {count} objects over {CYCLES} "
                      f"load/unload cycles, allocated by module code",
                      site=site, stack=[site], fatal=False)
    finally:
        current.pop()
