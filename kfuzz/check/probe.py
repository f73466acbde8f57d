"""Runs a check's generated programs through the executor, and reports what they find.

Every program a check runs is a `.kfz` program over the module and the modules it
loads, run by the same executor (a forked worker) as the fuzzer's; a finding goes
through the fuzzer's repro pipeline (minimize, replay, write the report folder
under the store's lock), so every failing line of the checklist has a repro.
"""

from __future__ import annotations

from pathlib import Path

from ..executor import Executor
from ..fuzz.repro import BugRecord, ReproPipeline, now
from ..kernel import ModuleIndex
from ..kernel.poll import DEFAULT_POLLMASK
from ..prog import Outcome, Result, parse_op
from ..prog.outcome import failed
from .result import CheckFinding

REPLAYS = 3
MAX_OPS = 10_000


# what a file operation the node does not have returns, as fs.py and Linux do
MISSING = {"read": "-EINVAL", "write": "-EINVAL", "ioctl": "-ENOTTY", "lseek": "-ESPIPE",
           "poll": DEFAULT_POLLMASK}


def exposed_by(verb: str, result: Result) -> set[str]:
    """The file operations an operation's result shows a node has: an opened node has
    its open, flush and release (every close flushes), an fcntl(FASYNC) that worked
    its fasync; read, write, ioctl, lseek and poll answer otherwise than a missing one
    (None: a finding cut the call short, so module code ran)."""
    if verb == "open":
        return set() if result is None or failed(result) else {"open", "flush", "release"}
    if verb == "fcntl":
        return set() if result is not None and failed(result) else {"fcntl"}
    if verb in MISSING and result not in (MISSING[verb], "-EBADF"):
        return {verb}
    return set()


class Prober:
    """One module's programs: runs them, keeps which fallible call sites failed, and
    writes one report per distinct bug met."""

    def __init__(self, target: str, index: ModuleIndex, executor: Executor, reports: Path,
                 settings: dict[str, str], seed: int, run: str):
        self.target = target
        self.index = index
        self.executor = executor
        self.settings = settings
        self.repro = ReproPipeline(executor, index, settings, reports, seed, REPLAYS, run)
        self.reported: dict[str, CheckFinding] = {}
        self.failed_sites: set[str] = set()  # "module:line" of each call fail_nth made fail
        self.programs = 0
        self.exposed: set[str] = set()  # file operations some node answered

    def run(self, lines: list[str], checks: tuple[str, ...] = (),
            settings: dict[str, str] | None = None) -> Outcome:
        """Runs the lines as one program in a fresh kernel."""
        prog = self.repro.program([parse_op(line) for line in lines], checks)
        if settings is not None:
            prog.settings = dict(settings)
        outcome = self.executor.run(prog)
        self.programs += 1
        self.failed_sites.update(r.fault_site for r in outcome.results if r.fault_site)
        for r in outcome.results:
            self.exposed |= exposed_by(r.op.split()[0], r.result)
        return outcome

    def report(self, outcome: Outcome, lines: list[str], checks: tuple[str, ...] = ()) -> CheckFinding:
        """The outcome's finding, its report folder written (once per title in a check run)."""
        finding = outcome.finding
        assert finding is not None
        known = self.reported.get(finding.title)
        if known is not None:
            return known
        bug = BugRecord(finding, [parse_op(line) for line in lines], list(checks), dmesg=outcome.dmesg)
        folder = self.repro.finish(bug, now())
        found = CheckFinding(finding.title, str(finding.kind), finding.module, finding.function,
                             self.repro.text(bug), folder)
        self.reported[finding.title] = found
        return found
