"""The cost of a struct field store on a kernel Buffer (mm.py `Buffer.__setattr__`).

A store of an object that is not a plain value (an int, a str, a buffer) also records
which buffer holds it, for container_of (containerof.py); this prints both kinds of
store, so the bookkeeping's cost can be read beside the plain store's.

Run: python bench/bench_fields.py [--stores 200000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

from kfuzz.kernel import Kernel, ModuleIndex
from kfuzz.kernel.current import pop, push
from kfuzz.kernel.mm import kzalloc
from kfuzz.kernel.refcount import Kref


def per_store(value: object, stores: int, repeats: int) -> float:
    """Median nanoseconds per `buf.x = value` over `repeats` loops of `stores` stores."""
    buf = kzalloc(64)
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(stores):
            buf.x = value
        samples.append((time.perf_counter() - t) / stores * 1e9)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    push(Kernel(ModuleIndex()))
    try:
        for label, value in (("int", 5), ("Kref (recorded for container_of)", Kref())):
            print(f"field store of {label}: {per_store(value, args.stores, args.repeats):.0f} ns")
    finally:
        pop()


if __name__ == "__main__":
    main()
