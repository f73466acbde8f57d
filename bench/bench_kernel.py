"""The simulated kernel's own speed, each figure beside its baseline in the same run.

Prints:
- operations per second of a mixed program (load, plug, irq, open, read, tick,
  suspend, unplug, unload) run in a fresh kernel each time;
- the cost of one insmod+rmmod cycle, against calling the same module's init and
  exit callbacks directly (what the loader adds on top of the module's own work);
- the cost of a fresh kernel, against reading and compiling the module files
  (which a run does once, not once per kernel).

Run: python bench/bench_kernel.py [--seconds 2] [--module edu_pci]
"""

from __future__ import annotations

import argparse
import builtins
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from kfuzz.kernel import Kernel, ModuleIndex
from kfuzz.kernel.current import pop, push
from kfuzz.kernel.image import read_image
from kfuzz.prog import KernelSession, parse_program

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "target_modules"

MIXED = """\
insmod edu_pci
plug pci 1234:11e8 -> dev0
irq dev0
open /dev/edu0 -> fd0
read fd0 64
write fd0 "ping"
tick 10
irq dev0
tick 100
suspend
read fd0 64
close fd0
unplug dev0
rmmod edu_pci
"""


def per_call(fn: Callable[[], object], seconds: float, repeats: int = 5) -> float:
    """Median seconds per call of fn over `repeats` timed batches."""
    n = 1
    while True:  # batch size: about a tenth of the time
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t > seconds / (10 * repeats) or n > 1_000_000:
            break
        n *= 2
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t) / n)
    return statistics.median(samples)


def mixed_program(index: ModuleIndex) -> tuple[Callable[[], None], int]:
    prog = parse_program(MIXED, Path("mixed.kfz"))

    session = KernelSession(index)  # no operation timeout: the figure is the kernel's own cost

    def run() -> None:
        session.begin({})
        for op in prog.ops:
            reply = session.step(op)
            if reply.finding is not None:
                raise SystemExit(f"the mixed program found a bug: {reply.finding.title}")

    return run, len(prog.ops)


def load_cycle(index: ModuleIndex, name: str) -> tuple[Callable[[], None], ...]:
    """insmod+rmmod through the loader; the module's init+exit called directly; and
    its body (the compiled code object, run into a fresh namespace) plus init+exit."""
    kernel = Kernel(index)

    def cycle() -> None:
        if kernel.do("insmod", name, {}) != 0 or kernel.do("rmmod", name) != 0:
            raise SystemExit(f"{name} did not load and unload cleanly")

    own = Kernel(index)  # a loaded instance whose callbacks are then called by hand
    own.do("insmod", name, {})
    mod = own.loader.modules[name]

    def direct() -> None:
        push(own)  # module code reaches its kernel as `current`, as under do()
        try:
            own.run_module_code(mod, mod.init)
            own.run_module_code(mod, mod.exit)
        finally:
            pop()

    def body_direct() -> None:
        push(own)
        try:
            mod.namespace = {"__name__": name, "__builtins__": builtins, "THIS_MODULE": mod}
            own.loader._run_body(mod, {})
            own.run_module_code(mod, mod.init)
            own.run_module_code(mod, mod.exit)
        finally:
            pop()

    push(own)
    own.run_module_code(mod, mod.exit)  # undo the insmod's init: direct() starts clean
    pop()
    return cycle, direct, body_direct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent on each figure")
    parser.add_argument("--module", default="edu_pci", help="module for the load cycle")
    args = parser.parse_args()
    files = sorted(TARGETS.glob("*.py"))
    index = ModuleIndex.scan([TARGETS])

    run, nops = mixed_program(index)
    prog_s = per_call(run, args.seconds)
    print(f"mixed program ({nops} ops, fresh kernel each): {prog_s * 1e6:8.1f} us/program"
          f"  {nops / prog_s:9.0f} ops/s  ({prog_s / nops * 1e6:.1f} us/op)")

    cycle, direct, body_direct = load_cycle(index, args.module)
    direct_s = per_call(direct, args.seconds)
    body_s = per_call(body_direct, args.seconds)
    cycle_s = per_call(cycle, args.seconds)
    print(f"{args.module} init+exit called directly (baseline):    {direct_s * 1e6:8.1f} us")
    print(f"{args.module} body+init+exit run directly (baseline):  {body_s * 1e6:8.1f} us")
    print(f"{args.module} insmod+rmmod cycle:                      {cycle_s * 1e6:8.1f} us"
          f"  ({cycle_s / direct_s:.1f}x the callbacks, {cycle_s / body_s:.2f}x body+callbacks;"
          f" the loader adds {(cycle_s - body_s) * 1e6:.1f} us)")

    kernel_s = per_call(lambda: Kernel(index), args.seconds)
    read_s = per_call(lambda: [read_image(f) for f in files], args.seconds)
    print(f"read+compile {len(files)} module files (baseline, once per run): {read_s * 1e6:8.1f} us")
    print(f"a fresh kernel:                                  {kernel_s * 1e6:8.1f} us"
          f"  ({read_s / kernel_s:.0f}x cheaper than re-reading)")


if __name__ == "__main__":
    main()
