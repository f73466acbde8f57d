"""What a concurrent group costs: the same operations run as `together` groups
and one after another, CPU time per operation, in the same process and run.

Each scenario is a correct bundled module (usbled, ringdev, edu_pci), a set-up
(load, plug, open) and a body of task sets of 2 or 3 operations, the last one a
teardown racing a file operation. The body runs
- serial: the sets' operations one after another (what a serial program runs);
- group: each set as a `together` group, the default order;
- group+drawn: each group with drawn preemptions (DRAWN below), as the fuzzer
  sends them (kfuzz/fuzz/groups.py);
- group+drawn, kcsan=0: the same with the kernel's KCSAN off, which shows what
  KCSAN (on by default, watching groups only) costs of the group path.
Every program runs in a fresh kernel of one in-process KernelSession (the
fuzzer's op_timeout, its timers included); only the body is timed (the set-up
and the end are the same in all variants). The variants alternate, program by
program, several rounds; the median of the rounds is printed. The bound: a
group at most twice the serial program of the same operations.

Run: python bench/bench_groups.py [--programs 200] [--rounds 5] [--repeat 4]
     [--profile VARIANT]  (cProfile of that variant's bodies: top functions)
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

from kfuzz.kernel import ModuleIndex
from kfuzz.kernel.sched import Drawn
from kfuzz.prog import Group, KernelSession, Op, parse_program

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "target_modules"
SETTINGS = {"autoload": "1"}  # the fuzzer's (FuzzOptions.settings)
OP_TIMEOUT = 0.5  # the fuzzer's
# t1 runs t2 at its 2nd scheduling point, t2 runs t1 back at its 2nd
DRAWN = (Drawn(1, 2, 2), Drawn(2, 2, 1))


@dataclass
class Scenario:
    name: str
    setup: str
    sets: list[tuple[str, ...]]  # the body: each set a group's tasks
    teardown: tuple[str, ...]  # the body's last set


SCENARIOS = [
    Scenario("usbled", """\
insmod usbled
plug usb 0fc5:1223 -> dev0
open /dev/usbled0 -> fd0
open /dev/usbled0 -> fd1
""", [('write fd0 "1"', "read fd1 8"),
      ("ioctl fd0 0x4C01 0", "read fd0 8", 'write fd1 "1"'),
      ("read fd1 8", "ioctl fd1 0x4C01 1")],
        ("close fd1", "unplug dev0", "read fd0 8")),
    Scenario("ringdev", """\
modprobe ringdev size=64
open /dev/ringdev -> fd0
open /dev/ringdev -> fd1
""", [('write fd0 "abcdef"', "read fd1 4"),
      ("ioctl fd0 0x5201 0", 'write fd1 "xyz"', "read fd0 8"),
      ("read fd1 16", "ioctl fd1 0x5200 0")],
        ("close fd1", 'write fd0 "tail"', "rmmod ringdev")),
    Scenario("edu_pci", """\
insmod edu_pci
plug pci 1234:11e8 -> dev0
open /dev/edu0 -> fd0
""", [("irq dev0", "read fd0 64"),
      ("tick 10", "irq dev0", "read fd0 64"),
      ("read fd0 64", "tick 1000")],
        ("irq dev0", "unplug dev0", "read fd0 64")),
]

VARIANTS = ["serial", "group", "group+drawn", "group+drawn, kcsan=0"]


@dataclass
class Body:
    """One scenario's program in one variant: set-up ops, then the timed body."""
    setup: list[Op]
    body: list[Op]
    settings: dict[str, str]
    ops: int  # operations in the body (a group's tasks each count, as the fuzzer counts)


def build(scenario: Scenario, variant: str, repeat: int) -> Body:
    sets = scenario.sets * repeat + [scenario.teardown]
    if variant == "serial":
        lines = [line for s in sets for line in s]
    else:
        lines = ["together\n" + "\n".join(f"  t{n}: {line}" for n, line in enumerate(s, 1)) for s in sets]
    prog = parse_program(scenario.setup + "\n".join(lines) + "\n")
    setup_len = len(parse_program(scenario.setup).ops)
    setup, body = prog.ops[:setup_len], prog.ops[setup_len:]
    if "drawn" in variant:
        body = [replace(op, drawn=DRAWN) if isinstance(op, Group) else op for op in body]
    settings = dict(SETTINGS)
    if "kcsan=0" in variant:
        settings["kcsan"] = "0"
    return Body(setup, body, settings, sum(len(s) for s in sets))


class Runner:
    def __init__(self) -> None:
        index = ModuleIndex.scan(sorted(TARGETS.glob("*.py")))
        self.session = KernelSession(index, OP_TIMEOUT)
        self.fired = 0

    def run(self, body: Body, profile: cProfile.Profile | None = None) -> float:
        """CPU seconds of the body, in a fresh kernel."""
        session = self.session
        session.begin(body.settings)
        for op in body.setup:
            reply = session.step(op)
            assert reply.finding is None, reply.finding
        if profile is not None:
            profile.enable()
        cpu = time.process_time()
        for op in body.body:
            reply = session.step(op)
            self.fired += len(reply.fired)
            if reply.finding is not None:
                raise SystemExit(f"a finding in a correct module: {reply.finding.title}\n"
                                 + "\n".join(reply.dmesg))
        cpu = time.process_time() - cpu
        if profile is not None:
            profile.disable()
        reply = session.end()
        assert reply.finding is None, reply.finding
        return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", type=int, default=200, help="programs per scenario, variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=4, help="times the body's sets repeat")
    parser.add_argument("--profile", choices=VARIANTS, default=None,
                        help="profile that variant's bodies (one more pass) and print the top functions")
    args = parser.parse_args()
    runner = Runner()
    bodies = {(s.name, v): build(s, v, args.repeat) for s in SCENARIOS for v in VARIANTS}
    for body in bodies.values():  # warm up, and check each runs clean
        runner.run(body)
    per_op: dict[tuple[str, str], list[float]] = {key: [] for key in bodies}
    fired: dict[str, int] = dict.fromkeys(VARIANTS, 0)
    for _ in range(args.rounds):
        cpu = dict.fromkeys(bodies, 0.0)
        for _ in range(args.programs):
            for key, body in bodies.items():
                before = runner.fired
                cpu[key] += runner.run(body)
                fired[key[1]] += runner.fired - before
        for key, body in bodies.items():
            per_op[key].append(cpu[key] / (args.programs * body.ops))
    print(f"CPU microseconds per operation, median of {args.rounds} rounds of {args.programs} programs "
          f"(body only; each body {args.repeat} x its sets + a teardown set)")
    print(f"{'':>10}" + "".join(f"{v:>22}" for v in VARIANTS))
    totals = dict.fromkeys(VARIANTS, 0.0)
    for scenario in SCENARIOS:
        row = {v: statistics.median(per_op[(scenario.name, v)]) for v in VARIANTS}
        ops = bodies[(scenario.name, "serial")].ops
        for v in VARIANTS:
            totals[v] += row[v] * ops
        print(f"{scenario.name:>10}" + "".join(f"{row[v] * 1e6:22.1f}" for v in VARIANTS)
              + f"   ({ops} ops)")
        print(f"{'ratio':>10}" + "".join(f"{row[v] / row['serial']:22.2f}" for v in VARIANTS))
    print(f"{'all':>10}" + "".join(f"{totals[v] / totals['serial']:22.2f}" for v in VARIANTS)
          + "   (ratio to serial, operations weighted)")
    programs = args.rounds * args.programs * len(SCENARIOS)
    groups = sum(1 for op in bodies[(SCENARIOS[0].name, "group")].body if isinstance(op, Group))
    print(f"preemptions fired per group with DRAWN {DRAWN}: "
          + ", ".join(f"{v} {fired[v] / (programs * groups):.2f}" for v in VARIANTS if "drawn" in v)
          + " (about, groups per body taken from the first scenario)")
    if args.profile:
        profile = cProfile.Profile()
        for _ in range(args.programs):
            for scenario in SCENARIOS:
                runner.run(bodies[(scenario.name, args.profile)], profile)
        stats = pstats.Stats(profile)
        print(f"\nprofile of '{args.profile}' (bodies only), by own time:")
        stats.sort_stats("tottime").print_stats(25)
        print(f"profile of '{args.profile}', by cumulative time:")
        stats.sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
