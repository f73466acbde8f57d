"""Soak: memory and throughput of a long `kfuzz fuzz` run on a correct module.

Runs `kfuzz fuzz MODULE --time-budget SECONDS` as a CI job would, and prints,
every --every seconds, the resident memory of the fuzzer and of its kernel
worker, and the operations per second the run reports. The baseline is the
run's own start: the fuzzer's RSS at the end should stay within 1.3 times its
RSS at two minutes, the worker's flat, and the rate should not fall.

Run: python bench/bench_soak.py [--seconds 1800] [--every 60] [--module edu_pci] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATUS = re.compile(r"([\d,]+) ops, [\d,]+ ops/s, .*?([\d.]+)s$")  # a status line's ops and seconds


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1800.0)
    parser.add_argument("--every", type=float, default=60.0)
    parser.add_argument("--module", default="edu_pci", help="a correct module of target_modules/")
    parser.add_argument("--workers", type=int, default=1,
                        help="campaign processes (1: the fuzzer fuzzes, its kernel worker is its child)")
    args = parser.parse_args()
    counts: list[tuple[int, float]] = [(0, 0.0)]  # (operations, seconds) of the latest status line
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kfuzz.cli", "fuzz", str(ROOT / "target_modules" / f"{args.module}.py"),
             "--module-path", str(ROOT / "target_modules"), "--time-budget", str(args.seconds), "--no-db",
             "--reports", str(Path(tmp) / "reports"), "--workers", str(args.workers)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp,
            env=dict(os.environ, PYTHONUNBUFFERED="1"))

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                m = STATUS.search(line.strip())
                if m:
                    counts.append((int(m.group(1).replace(",", "")), float(m.group(2))))

        threading.Thread(target=read, daemon=True).start()
        print(f"{args.module}, {args.seconds:g} s: resident memory in MB")
        print(f"{'time s':>7} {'fuzzer':>8} {'worker':>8} {'ops/s':>8}")
        start = time.monotonic()
        samples = []
        last = counts[-1]
        while proc.poll() is None:
            time.sleep(args.every)
            fuzzer = rss_mb(proc.pid)
            workers = [r for c in children(proc.pid) if (r := rss_mb(c)) is not None]
            if fuzzer is None:
                break
            t = time.monotonic() - start
            now = counts[-1]  # the rate over this interval, not since the start
            rate = f"{(now[0] - last[0]) / (now[1] - last[1]):,.0f}" if now[1] > last[1] else "-"
            last = now
            samples.append((t, fuzzer, rate))
            print(f"{t:7.0f} {fuzzer:8.1f} {max(workers, default=0.0):8.1f} {rate:>8}", flush=True)
        proc.wait()
    at2 = next((rss for t, rss, _ in samples if t >= 120), samples[0][1] if samples else None)
    if samples and at2:
        print(f"fuzzer RSS at the end / at 2 min: {samples[-1][1] / at2:.2f}   target <= 1.3")
        print(f"ops/s at the first sample {samples[0][2]}, at the last {samples[-1][2]}")


if __name__ == "__main__":
    main()
