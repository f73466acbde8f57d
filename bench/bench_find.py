"""Time to find each planted bug of target_modules/buggy, over several seeds.

Prints, per buggy module, the median and worst seconds to the first finding of
the planted kind, and the misses within the cap. Run: python bench/bench_find.py
[--seeds 5] [--cap 60] [--isolation fork] [MODULE ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from kfuzz.executor import make_executor
from kfuzz.fuzz import Campaign, Events, FuzzOptions, closure, resolve_targets
from kfuzz.fuzz.bugs import StopFuzzing
from kfuzz.fuzz.campaign import ROUND_EXAMPLES
from kfuzz.fuzz.events import BugFound, Event

ROOT = Path(__file__).resolve().parent.parent
BUGGY = ROOT / "target_modules" / "buggy"
PLANTED = {  # module -> the kind its planted bug is
    "bugon": "bug", "crashioctl": "crash", "dblfree": "double-free", "hangioctl": "hang",
    "irqsleep": "atomic-sleep", "leakexit": "memory-leak", "leakinit": "memory-leak",
    "lockorder": "lockdep", "modref": "refcount", "noowner": "unloaded-code", "nullpriv": "oops",
    "oobwrite": "out-of-bounds", "pyleak": "python-leak", "rebindleak": "memory-leak",
    "rebinduaf": "use-after-free", "timerleak": "dangling-registration",
    "usbuaf": "use-after-free", "warnon": "warning",
}


class FirstFind:
    """A listener that stops the campaign at the first finding of the planted kind."""

    def __init__(self, kind: str):
        self.kind = kind
        self.at: float | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, BugFound) and event.finding.kind == self.kind and self.at is None:
            self.at = event.counts.seconds
            raise StopFuzzing()


def time_to_find(target: str, index, seed: int, cap: float, isolation: str,  # noqa: ANN001
                 round_examples: int) -> float | None:
    opts = FuzzOptions(seed=seed, time_budget=cap, db_dir=None, reports=Path("/nonexistent"),
                       round_examples=round_examples)
    sub = closure(index, target)
    executor = make_executor(isolation, sub, opts.op_timeout)
    progress = FirstFind(PLANTED[target])
    campaign = Campaign(target, sub, executor, opts, Events(progress), cap)
    try:
        try:
            campaign.probe_python_leak()
        except StopFuzzing:
            return progress.at
        rounds = 0
        while not campaign.exhausted() and progress.at is None:
            campaign.ignored = set(campaign.bugs)
            try:
                if not campaign.hypothesis_round(seed * 7919 + rounds):
                    break
            except StopFuzzing:
                break
            rounds += 1
        return progress.at
    finally:
        executor.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("modules", nargs="*", default=sorted(PLANTED))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--cap", type=float, default=60.0, help="seconds before a seed counts as a miss")
    parser.add_argument("--isolation", default="fork")
    parser.add_argument("--round", type=int, default=ROUND_EXAMPLES, help="test cases per Hypothesis run")
    args = parser.parse_args()
    _, index = resolve_targets([BUGGY], ROOT / "target_modules")
    print(f"time to find each planted bug, {args.seeds} seeds, cap {args.cap:g}s, "
          f"isolation {args.isolation}, {args.round} test cases a Hypothesis run")
    print(f"{'module':<12} {'kind':<22} {'median s':>9} {'worst s':>9} {'misses':>7}")
    medians = []
    for module in args.modules:
        times = []
        misses = 0
        for seed in range(args.seeds):
            t0 = time.monotonic()
            found = time_to_find(module, index, seed, args.cap, args.isolation, args.round)
            if found is None:
                misses += 1
                times.append(time.monotonic() - t0)
            else:
                times.append(found)
        med = statistics.median(times)
        medians.append(med)
        print(f"{module:<12} {PLANTED[module]:<22} {med:>9.2f} {max(times):>9.2f} {misses:>7}", flush=True)
    print(f"median of medians {statistics.median(medians):.2f}s, worst median {max(medians):.2f}s")
    sys.exit(0)


if __name__ == "__main__":
    main()
