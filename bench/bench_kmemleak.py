"""What kmemleak by reference costs the fuzzer: CPU time per operation, old tree vs new.

Each measurement is one seeded Hypothesis round of a correct module in a fresh
interpreter (the fuzzer and its fork worker), run on the source tree given by
PYTHONPATH; its CPU time (the process and its waited-for children, user + system)
is divided by the operations it ran. Old and new runs alternate, round by round,
so load from other work on the machine falls on both alike.

Run: python bench/bench_kmemleak.py --old DIR [--new DIR] [--rounds 3] [--cases 200]
     [--modules edu_pci ringdev] [--mode fork|inprocess|kernel|kernel-frozen]
(kernel modes time the kernel alone on a fixed program, without the fuzzer around it.)
(DIR: a checkout of kfuzz, e.g. `git archive BASE | tar -x -C DIR`.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one(mode: str, module: str, cases: int, seed: int) -> None:
    """Runs one round here and prints {"ops": N, "cpu": SECONDS}."""
    from kfuzz.executor import make_executor
    from kfuzz.fuzz import Events, FuzzOptions, closure, resolve_targets
    from kfuzz.fuzz.campaign import Campaign, Stats

    targets, index = resolve_targets([ROOT / "target_modules" / f"{module}.py"], ROOT / "target_modules")
    opts = FuzzOptions(seed=seed, max_examples=cases, db_dir=None, reports=Path("/nonexistent"))
    sub = closure(index, targets[0])
    executor = make_executor(mode, sub, opts.op_timeout)
    campaign = Campaign(targets[0], sub, executor, opts, Events(), None)

    def cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    start = cpu()
    try:
        campaign.stats = Stats()
        campaign.hypothesis_round(seed)
    finally:
        executor.close()
    print(json.dumps({"ops": campaign.stats.ops, "cpu": cpu() - start, "bugs": sorted(campaign.bugs)}))


# a program whose buffers hold containers (st.rec = rec, a timer in a field), so the scan
# collects at the end of each operation: the worst case of kmemleak's cost
from bench_kernel import MIXED as KERNEL_PROGRAM  # noqa: E402 - the kernel benchmark's program


def one_kernel(frozen: bool, repeats: int) -> None:
    """The kernel alone: the program run `repeats` times in a session; the fork worker
    runs with the fuzzer's heap frozen (`frozen`), the in-process executor without."""
    import gc
    import time

    from kfuzz.kernel import ModuleIndex
    from kfuzz.prog import KernelSession, parse_program

    index = ModuleIndex.scan(sorted((ROOT / "target_modules").glob("*.py")))
    prog = parse_program(KERNEL_PROGRAM, "<bench>")
    session = KernelSession(index)
    session.run(prog)
    if frozen:
        gc.freeze()
    start, ops = time.process_time(), 0
    for _ in range(repeats):
        outcome = session.run(prog)
        ops += len(prog.ops) + 1
        if outcome.finding is not None:
            raise SystemExit(f"the program found {outcome.finding.title}")
    print(json.dumps({"ops": ops, "cpu": time.process_time() - start, "bugs": []}))


def measure(tree: Path, mode: str, module: str, cases: int, seed: int) -> float:
    """CPU microseconds per operation of one round on `tree`."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_kmemleak.py"), "--one", mode,
                          module, str(cases), str(seed)], env=env, cwd=tree, check=True,
                         capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    if data["bugs"]:
        raise SystemExit(f"{module} on {tree} is meant to be correct, but: {data['bugs']}")
    return float(data["cpu"]) / data["ops"] * 1e6


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        mode, module, cases, seed = sys.argv[2:6]
        if mode.startswith("kernel"):
            one_kernel(mode == "kernel-frozen", int(cases))
        else:
            one(mode, module, int(cases), int(seed))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, required=True)
    parser.add_argument("--new", type=Path, default=ROOT)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", default="fork", choices=("fork", "inprocess", "kernel", "kernel-frozen"),
                        help="kernel*: the kernel alone, no fuzzer (--cases: repeats of a program)")
    parser.add_argument("--modules", nargs="+", default=["edu_pci", "ringdev"])
    args = parser.parse_args()
    if args.mode.startswith("kernel"):
        args.modules = ["edu_pci"]  # KERNEL_PROGRAM's module
    for module in args.modules:
        cost: dict[str, list[float]] = {"old": [], "new": []}
        for r in range(args.rounds):
            for name, tree in (("old", args.old), ("new", args.new)):
                cost[name].append(measure(tree, args.mode, module, args.cases, args.seed + r))
                print(f"{module} round {r + 1} {name}: {cost[name][-1]:7.1f} us CPU/op", flush=True)
        ratios = [n / o for o, n in zip(cost["old"], cost["new"], strict=True)]
        print(f"{module} ({args.mode}): old {statistics.median(cost['old']):.1f}, new "
              f"{statistics.median(cost['new']):.1f} us CPU/op; new/old median "
              f"{statistics.median(ratios):.3f} (target < 1.15)", flush=True)


if __name__ == "__main__":
    main()
