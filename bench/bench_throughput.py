"""Fuzzing throughput: the same seeded campaign under each way of running kernels.

- inprocess: kernels run in the fuzzer's own process (no isolation; the ceiling);
- fork: kfuzz's way, one worker forked once from the warm fuzzer and reused;
- spawn per test case: the naive baseline, a fresh interpreter for every test
  case that imports kfuzz and reads the module files itself.

Prints test cases and operations per second of each, and the ratios kfuzz aims
at: fork at least 0.75 of inprocess, at least 5 times spawn per test case. The
modes run interleaved, several rounds, and the medians are shown, since the
machine is shared and noisy.

Run: python bench/bench_throughput.py [--cases 300] [--spawn-cases 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
from pathlib import Path
from typing import Any

from kfuzz.executor import make_executor
from kfuzz.fuzz import Events, FuzzOptions, closure, resolve_targets
from kfuzz.fuzz.campaign import Campaign, Stats
from kfuzz.kernel import ModuleIndex
from kfuzz.prog import KernelSession, Op, Outcome, Program, Reply

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "target_modules"


def _spawned_worker(conn: Any, paths: list[Path], op_timeout: float) -> None:
    index = ModuleIndex.scan(paths)  # a fresh interpreter reads and compiles for itself
    session = KernelSession(index, op_timeout)
    while True:
        cmd, args = conn.recv()
        if cmd == "exit":
            return
        conn.send(getattr(session, cmd)(*args))


class SpawnPerCase:
    """The naive isolation: a new process for every test case."""

    def __init__(self, index: ModuleIndex, op_timeout: float):
        self.paths = [img.path for img in index.images.values()]
        self.op_timeout = op_timeout
        self.ctx = multiprocessing.get_context("spawn")
        self.proc: Any = None
        self.conn: Any = None

    def _start(self) -> None:
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_spawned_worker, args=(child, self.paths, self.op_timeout))
        self.proc.start()
        child.close()

    def _stop(self) -> None:
        self.conn.send(("exit", ()))
        self.proc.join()
        self.proc = self.conn = None

    def _ask(self, cmd: str, *args: Any) -> Any:
        self.conn.send((cmd, args))
        return self.conn.recv()

    def begin(self, settings: dict[str, str]) -> None:
        self._start()
        self._ask("begin", settings)

    def step(self, op: Op) -> Reply:
        reply: Reply = self._ask("step", op)
        return reply

    def end(self) -> Reply:
        reply: Reply = self._ask("end")
        self._stop()
        return reply

    def run(self, prog: Program) -> Outcome:
        self._start()
        outcome: Outcome = self._ask("run", prog)
        self._stop()
        return outcome

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            self._stop()


def measure(mode: str, target: str, index: ModuleIndex, cases: int, seed: int) -> tuple[float, float]:
    """(test cases per second, operations per second) of one seeded Hypothesis round."""
    opts = FuzzOptions(seed=seed, max_examples=cases, db_dir=None, reports=Path("/nonexistent"))
    sub = closure(index, target)
    executor = (SpawnPerCase(sub, opts.op_timeout) if mode == "spawn"
                else make_executor(mode, sub, opts.op_timeout))
    campaign = Campaign(target, sub, executor, opts, Events(), None)
    try:
        campaign.stats = Stats()
        campaign.hypothesis_round(seed)
        elapsed = campaign.stats.elapsed
    finally:
        executor.close()
    if campaign.bugs:
        raise SystemExit(f"{target} is meant to be a correct module, but: {sorted(campaign.bugs)}")
    return campaign.stats.cases / elapsed, campaign.stats.ops / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", default="edu_pci", help="a correct module of target_modules/")
    parser.add_argument("--cases", type=int, default=300, help="test cases per fork/inprocess round")
    parser.add_argument("--spawn-cases", type=int, default=30, help="test cases per spawn round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    targets, index = resolve_targets([TARGETS / f"{args.module}.py"], TARGETS)
    modes = {"inprocess": args.cases, "fork": args.cases, "spawn": args.spawn_cases}
    rates: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for mode, cases in modes.items():
            rates[mode].append(measure(mode, targets[0], index, cases, args.seed))
            cps, ops = rates[mode][-1]
            print(f"round {r + 1} {mode:9} {cps:8.1f} cases/s {ops:9.1f} ops/s", flush=True)
    med = {m: (statistics.median(c for c, _ in v), statistics.median(o for _, o in v))
           for m, v in rates.items()}
    print(f"\n{args.module}, seed {args.seed}, medians of {args.rounds} rounds:")
    for mode, (cps, ops) in med.items():
        print(f"  {mode:9} {cps:8.1f} cases/s {ops:9.1f} ops/s")
    pairs = list(zip(rates["fork"], rates["inprocess"], rates["spawn"], strict=True))
    fork_vs_inproc = statistics.median(f[1] / i[1] for f, i, _ in pairs)
    fork_vs_spawn = statistics.median(f[0] / s[0] for f, _, s in pairs)
    print(f"fork / inprocess (ops/s):          {fork_vs_inproc:6.2f}   target >= 0.75")
    print(f"fork / spawn per test case (cases/s): {fork_vs_spawn:6.2f}   target >= 5")


if __name__ == "__main__":
    main()
