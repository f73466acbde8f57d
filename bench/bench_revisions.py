"""Fuzzing throughput of two git revisions, measured in the same run.

Each revision is checked out into a temporary worktree; the same seeded
in-process campaigns over the correct bundled modules then run in a fresh
interpreter per revision, alternating, several rounds. Operations per CPU
second is the figure (the machine is shared: wall-clock rates are printed
beside it, but CPU time is what a busy neighbour disturbs least).

Run: python bench/bench_revisions.py BEFORE [AFTER (default: the working tree)]
     [--cases 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["edu_pci", "pmwatch", "procstats", "ringbuf", "ringdev", "usbled"]

# run inside the revision's tree: one seeded campaign per module, in process
PROBE = """
import json, resource, sys, time
from pathlib import Path
from kfuzz.fuzz import Events, FuzzOptions, closure, resolve_targets
from kfuzz.fuzz.campaign import Campaign
from kfuzz.executor import make_executor
root, cases, names = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
ops = done = 0
cpu0, wall0 = time.process_time(), time.monotonic()
for name in names:
    targets, index = resolve_targets([root / "target_modules" / f"{name}.py"], root / "target_modules")
    scope = closure(index, targets[0])
    executor = make_executor("inprocess", scope, 0.5)
    opts = FuzzOptions(seed=0, max_examples=cases, db_dir=None, reports=Path(sys.argv[1]) / ".bench-reports")
    campaign = Campaign(targets[0], scope, executor, opts, Events(), None)
    campaign.run()
    ops += campaign.stats.ops
    done += campaign.stats.cases
    executor.close()
print(json.dumps({"ops": ops, "cases": done, "cpu": time.process_time() - cpu0,
                  "wall": time.monotonic() - wall0}))
"""


def measure(tree: Path, cases: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", PROBE, str(tree), str(cases), *MODULES], env=env,
                         capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def worktree(rev: str, folder: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(folder), rev],
                   check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default=None)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kfuzz-bench-") as tmp:
        trees = {args.before: worktree(args.before, Path(tmp) / "before")}
        after = worktree(args.after, Path(tmp) / "after") if args.after else ROOT
        trees[args.after or "working tree"] = after
        try:
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
            for _ in range(args.rounds):
                for name, tree in trees.items():
                    runs[name].append(measure(tree, args.cases))
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                                   check=False)
    rates = {}
    for name, results in runs.items():
        per_cpu = statistics.median(r["ops"] / r["cpu"] for r in results)
        per_wall = statistics.median(r["ops"] / r["wall"] for r in results)
        rates[name] = per_cpu
        print(f"{name:>14}: {per_cpu:8.0f} ops per CPU second, {per_wall:8.0f} ops/s wall, "
              f"{statistics.median(r['cases'] for r in results):.0f} test cases, "
              f"{statistics.median(r['ops'] for r in results):.0f} ops (median of {len(results)})")
    before, after = rates.values()
    print(f"after / before: {after / before:.3f} ({(after / before - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
