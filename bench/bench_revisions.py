"""Fuzzing throughput of two git revisions, measured in the same run.

Each revision is checked out into a temporary worktree; the same seeded
campaigns over the correct bundled modules then run in a fresh interpreter per
revision, alternating, several rounds. Operations per CPU second is the figure
(the machine is shared: wall-clock rates are printed beside it, but CPU time is
what a busy neighbour disturbs least).

--isolation fork (the default, since this script's figures are compared with
the bound "serial programs lose at most 10% of their operations per CPU second,
fork isolation and --workers 1") runs what `kfuzz fuzz --workers 1` runs: one
campaign process whose kernel runs in a forked worker subprocess
(make_executor("fork")), the worker pinned to the fuzzer's CPU. Its CPU time is
the fuzzer's and the worker's together: the worker is closed and reaped after
each campaign, so its time is in the probe's children times (os.times), and the
split between the two is printed too. --isolation inprocess runs the kernel in
the fuzzer's own process (this script's only mode before; the default was then
in-process).

Concurrent groups: a revision whose FuzzOptions has a `groups` field draws
`together` groups by default; here it runs with groups=False unless --groups is
given, so that the two revisions run the same kind of (serial) programs. With
--groups each revision runs with its own default.

Run: python bench/bench_revisions.py BEFORE [AFTER (default: the working tree)]
     [--isolation fork|inprocess] [--cases 300] [--rounds 3] [--groups]
     [--modules edu_pci usbled ...]
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

# run inside the revision's tree: one seeded campaign per module, the kernel in a
# worker subprocess (fork) or in this process (inprocess)
PROBE = """
import json, os, sys, tempfile, time
from pathlib import Path
from kfuzz.fuzz import Events, FuzzOptions, closure, resolve_targets
from kfuzz.fuzz.campaign import Campaign
from kfuzz.executor import make_executor
root, isolation, groups, cases, names = (Path(sys.argv[1]), sys.argv[2], sys.argv[3],
                                         int(sys.argv[4]), sys.argv[5:])
extra = {}
if groups == "off" and "groups" in FuzzOptions.__dataclass_fields__:
    extra["groups"] = False
ops = done = restarts = 0
reports = Path(tempfile.mkdtemp(prefix="kfuzz-bench-reports-"))
t0, wall0 = os.times(), time.monotonic()
for name in names:
    targets, index = resolve_targets([root / "target_modules" / f"{name}.py"], root / "target_modules")
    scope = closure(index, targets[0])
    executor = make_executor(isolation, scope, 0.5)
    opts = FuzzOptions(seed=0, max_examples=cases, db_dir=None, reports=reports, **extra)
    campaign = Campaign(targets[0], scope, executor, opts, Events(), None)
    try:
        records = list(campaign.run())
    finally:
        executor.close()  # the fork worker is told to exit and reaped: its CPU is in os.times()
    if records:
        sys.exit(f"{name} is meant to be correct, but: {[r.finding.title for r in records]}")
    ops += campaign.stats.ops
    done += campaign.stats.cases
    restarts += executor.restarts
t1, wall = os.times(), time.monotonic() - wall0
own = (t1.user - t0.user) + (t1.system - t0.system)
kids = (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)
print(json.dumps({"ops": ops, "cases": done, "cpu": own + kids, "cpu_fuzzer": own,
                  "cpu_worker": kids, "wall": wall, "restarts": restarts}))
"""


def measure(tree: Path, isolation: str, groups: bool, cases: int, modules: list[str],
            cwd: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", PROBE, str(tree), isolation, "on" if groups else "off",
                          str(cases), *modules], env=env, capture_output=True, text=True, cwd=cwd)
    if out.returncode:
        raise SystemExit(f"the probe failed in {tree}:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def worktree(rev: str, folder: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(folder), rev],
                   check=True)
    return folder


def describe_worktree() -> str:
    """HEAD of the working tree, and whether kfuzz/ has changes not committed."""
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "kfuzz"],
                           capture_output=True, text=True, check=False).stdout.split("\n")
    changed = [line[3:] for line in dirty if line.strip()]
    return f"HEAD {head}" + (f" + changes in {', '.join(changed)}" if changed else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default=None)
    parser.add_argument("--isolation", choices=["fork", "inprocess"], default="fork")
    parser.add_argument("--cases", type=int, default=300, help="test cases per module and run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--groups", action="store_true",
                        help="let a revision that draws concurrent groups draw them (its default)")
    parser.add_argument("--modules", nargs="+", default=MODULES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kfuzz-bench-") as tmp:
        trees = {args.before: worktree(args.before, Path(tmp) / "before")}
        after = worktree(args.after, Path(tmp) / "after") if args.after else ROOT
        trees[args.after or "working tree"] = after
        if not args.after:
            print(f"working tree: {describe_worktree()}")
        cwd = Path(tmp) / "cwd"  # Hypothesis's .hypothesis/ lands here, not in a tree
        cwd.mkdir()
        try:
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
            for _ in range(args.rounds):
                for name, tree in trees.items():
                    runs[name].append(measure(tree, args.isolation, args.groups, args.cases,
                                              args.modules, cwd))
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                                   check=False)
    print(f"isolation {args.isolation}, one campaign process, groups "
          f"{'as each revision draws them' if args.groups else 'off'}, {args.cases} cases per module, "
          f"modules {' '.join(args.modules)}")
    rates = {}
    for name, results in runs.items():
        per_cpu = statistics.median(r["ops"] / r["cpu"] for r in results)
        per_wall = statistics.median(r["ops"] / r["wall"] for r in results)
        rates[name] = per_cpu
        print(f"{name:>14}: {per_cpu:8.0f} ops per CPU second, {per_wall:8.0f} ops/s wall, "
              f"{statistics.median(r['cases'] for r in results):.0f} test cases, "
              f"{statistics.median(r['ops'] for r in results):.0f} ops (median of {len(results)})")
        print(" " * 16 + "each round (ops/CPU s): "
              + ", ".join(f"{r['ops'] / r['cpu']:.0f}" for r in results)
              + f"; CPU s fuzzer {statistics.median(r['cpu_fuzzer'] for r in results):.2f}"
              + f" + worker {statistics.median(r['cpu_worker'] for r in results):.2f}"
              + f"; worker restarts {max(r['restarts'] for r in results):.0f}")
    before, after = rates.values()
    print(f"after / before: {after / before:.3f} ({(after / before - 1) * 100:+.1f}%)")
    # the same round's two runs ran closest in time: their ratio is the least disturbed
    # by a neighbour's load that comes and goes
    first, second = runs.values()
    paired = [(b["ops"] / b["cpu"]) / (a["ops"] / a["cpu"]) for a, b in zip(first, second, strict=True)]
    print(f"after / before, median of each round's ratio: {statistics.median(paired):.3f} "
          f"({(statistics.median(paired) - 1) * 100:+.1f}%; rounds: "
          + ", ".join(f"{r:.3f}" for r in paired) + ")")
    if args.isolation == "fork":
        worker = [(b["ops"] / b["cpu_worker"]) / (a["ops"] / a["cpu_worker"])
                  for a, b in zip(first, second, strict=True)]
        print(f"the kernel worker alone (ops per worker CPU second), after / before: "
              f"{statistics.median(worker):.3f} ({(statistics.median(worker) - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
