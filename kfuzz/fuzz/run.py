"""`kfuzz fuzz`: one campaign per target module, each in its own kernel worker;
with `workers` above 1, campaigns in that many processes at once (parallel.py)."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

from ..executor import make_executor
from ..kernel import ModuleIndex
from ..kernel.image import cached_image
from ..kernel.index import module_files
from ..stopping import stop_signal
from .campaign import Campaign, FuzzOptions
from .events import Counts, Events, RunFinished
from .repro import BugRecord


@dataclass
class FuzzResult:
    records: list[tuple[str, BugRecord]] = field(default_factory=list)
    cases: int = 0
    ops: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    stopped_by: int = 0  # the signal that interrupted the run
    failures: list[str] = field(default_factory=list)  # campaigns that ended in an error (a cluster's)

    def counts(self) -> Counts:
        return Counts(self.cases, self.ops, self.seconds, len(self.records))


def resolve_targets(paths: list[Path], module_path: Path | None) -> tuple[list[str], ModuleIndex]:
    """Target module names and the index of everything they may load."""
    files = [f for p in paths for f in module_files(p)]
    roots = [module_path] if module_path is not None and module_path.exists() else []
    index = ModuleIndex.scan(roots)
    targets = []
    for f in files:
        image = cached_image(f)
        index.add(image, replace=True)
        targets.append(image.name)
    return list(dict.fromkeys(targets)), index


def closure(index: ModuleIndex, target: str) -> ModuleIndex:
    """The target and the modules modprobe would load for it."""
    names: list[str] = []
    todo = [target]
    while todo:
        name = todo.pop()
        image = index.get(name)
        if name in names or image is None:
            continue
        names.append(name)
        todo += index.load_order(name) + image.softdep_post
    return ModuleIndex(image for n in sorted(names) if (image := index.get(n)) is not None)


def fuzz(targets: list[str], index: ModuleIndex, opts: FuzzOptions, events: Events,
         isolation: str = "fork", workers: int = 1) -> FuzzResult:
    run = uuid.uuid4().hex  # a bug found again in this run counts once
    # Hypothesis keeps caches of its own beside its database: in .kfuzz/ too, never in
    # a .hypothesis/ of the user's working directory
    home = opts.db_dir / "hypothesis" if opts.db_dir else Path(tempfile.gettempdir()) / "kfuzz-hypothesis"
    set_hypothesis_home_dir(str(home))
    if workers > 1:
        from .parallel import fuzz_parallel  # it builds on this file
        return fuzz_parallel(targets, index, opts, events, isolation, workers, run)
    result = FuzzResult()
    share = opts.time_budget / len(targets) if opts.time_budget else None
    try:
        for target in targets:
            scope = closure(index, target)
            executor = make_executor(isolation, scope, opts.op_timeout)
            campaign = Campaign(target, scope, executor, opts, events, share, run)
            try:
                for record in campaign.run():
                    result.records.append((target, record))
            except KeyboardInterrupt as stop:
                result.interrupted = True
                result.stopped_by = stop_signal(stop)
                campaign.save_what_was_found()
                for record in campaign.bugs.values():
                    result.records.append((target, record))
                return result
            finally:
                result.cases += campaign.stats.cases
                result.ops += campaign.stats.ops
                result.seconds += campaign.stats.elapsed
                executor.close()
    finally:
        events.emit(RunFinished(result.counts(), result.interrupted))
    return result
