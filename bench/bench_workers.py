"""Throughput of `kfuzz fuzz --workers N`: test cases and operations per second of a
whole run (wall clock, start-up and ending included) with 1 and 2 workers.

--workers 1 is the single-process run; --workers 2 on one target runs two
campaigns of it at once (seeds s and s+1), each pinned to a CPU of its own, with
their events rendered by the parent. The runs alternate, several rounds, and the
medians are shown, since the machine may be shared; the target is 2 workers at
least 1.6 times one on two idle cores (0.9 N in general). On a busy machine the
cases per CPU second say whether the workers waste CPU (they should not: about
1x), whatever share of the cores the run was given.

With --cluster N, a Dask LocalCluster of N worker processes (started once,
before the rounds, as a standing cluster would be) runs the same campaigns
through `--cluster` in each round too: its figures include the tasks' start (the
module files shipped, a kernel worker forked) and the messages streamed back.
Its processes' CPU is not counted (they outlive the rounds).

Run: python bench/bench_workers.py [--seconds 10] [--rounds 3] [--workers 1 2] [--cluster 2]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kfuzz.fuzz import Events, FuzzOptions, fuzz, resolve_targets
from kfuzz.fuzz.parallel import usable_cpus

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "target_modules"


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def measure(module: str, workers: int, seconds: float, seed: int,
            cluster: str | None = None) -> tuple[float, float, float, float]:
    """(test cases/s, operations/s, CPU seconds per wall second of all processes, of
    this one) of one run. Children's CPU counts once they end: campaign processes
    and kernel workers all end with the run."""
    targets, index = resolve_targets([TARGETS / f"{module}.py"], TARGETS)
    with tempfile.TemporaryDirectory() as tmp:
        opts = FuzzOptions(seed=seed, time_budget=seconds, db_dir=None, reports=Path(tmp) / "reports")
        me, kids = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
        wall = time.monotonic()
        if cluster is None:
            result = fuzz(targets, index, opts, Events(), workers=workers)
        else:
            from kfuzz.cluster import fuzz_on_cluster

            result = fuzz_on_cluster(cluster, targets, index, opts, Events())
        wall = time.monotonic() - wall
        me, kids = cpu_seconds(resource.RUSAGE_SELF) - me, cpu_seconds(resource.RUSAGE_CHILDREN) - kids
    if result.records:
        raise SystemExit(f"{module} is meant to be a correct module, but: "
                         f"{[r.finding.title for _, r in result.records]}")
    return result.cases / wall, result.ops / wall, (me + kids) / wall, me / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", default="edu_pci", help="a correct module of target_modules/")
    parser.add_argument("--seconds", type=float, default=10.0, help="time budget of each run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cluster", type=int, default=0, metavar="N",
                        help="also a Dask LocalCluster of N worker processes (needs kfuzz[cluster])")
    args = parser.parse_args()
    with local_cluster(args.cluster) as address:
        run_rounds(args, address)


@contextlib.contextmanager
def local_cluster(processes: int) -> Iterator[str | None]:
    if not processes:
        yield None
        return
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.worker.daemon": False}), \
            LocalCluster(n_workers=processes, threads_per_worker=1, dashboard_address=None,
                         silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


def run_rounds(args: argparse.Namespace, address: str | None) -> None:
    print(f"{len(usable_cpus())} CPUs usable; {args.module}, {args.seconds:g} s a run, seed {args.seed}")
    rates: dict[int, list[tuple[float, float, float, float]]] = {n: [] for n in args.workers}
    on_cluster: list[tuple[float, float, float, float]] = []
    for r in range(args.rounds):
        for n in args.workers:
            rates[n].append(measure(args.module, n, args.seconds, args.seed))
            cps, ops, load, parent = rates[n][-1]
            print(f"round {r + 1} --workers {n:<2} {cps:8.1f} cases/s {ops:9.1f} ops/s "
                  f"(CPU used: {load:.2f} s/s, the parent's {parent:.2f}; {cps / load:6.1f} cases "
                  f"a CPU second)", flush=True)
        if address is not None:
            on_cluster.append(measure(args.module, args.cluster, args.seconds, args.seed, address))
            print(f"round {r + 1} --cluster ({args.cluster} processes) {on_cluster[-1][0]:8.1f} cases/s "
                  f"{on_cluster[-1][1]:9.1f} ops/s", flush=True)
    print(f"\nmedians of {args.rounds} rounds:")
    for n, v in rates.items():
        print(f"  --workers {n:<2} {statistics.median(c[0] for c in v):8.1f} cases/s "
              f"{statistics.median(c[1] for c in v):9.1f} ops/s")
    if on_cluster:
        print(f"  --cluster ({args.cluster}) {statistics.median(c[0] for c in on_cluster):8.1f} cases/s "
              f"{statistics.median(c[1] for c in on_cluster):9.1f} ops/s")
    base = args.workers[0]
    for n in args.workers[1:]:
        pairs = list(zip(rates[n], rates[base], strict=True))
        ratio_cases = statistics.median(a[0] / b[0] for a, b in pairs)
        ratio_ops = statistics.median(a[1] / b[1] for a, b in pairs)
        ratio_cpu = statistics.median((a[0] / a[2]) / (b[0] / b[2]) for a, b in pairs)
        print(f"--workers {n} / --workers {base}: {ratio_cases:.2f}x cases/s, {ratio_ops:.2f}x ops/s "
              f"(issue 11: >= 1.6x for 2 on two idle cores, 0.9 N in general); {ratio_cpu:.2f}x cases "
              f"a CPU second (below 1: CPU lost to running in parallel; a busy machine shows it here)")
    if on_cluster:
        pairs_c = list(zip(on_cluster, rates[base], strict=True))
        print(f"--cluster ({args.cluster}) / --workers {base}: "
              f"{statistics.median(a[0] / b[0] for a, b in pairs_c):.2f}x cases/s")


if __name__ == "__main__":
    main()
