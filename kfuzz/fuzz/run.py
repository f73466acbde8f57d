"""`kfuzz fuzz`: one campaign per target module, each in its own kernel worker."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis.configuration import set_hypothesis_home_dir

from ..executor import make_executor
from ..executor.worker import ForkExecutor
from ..kernel import ModuleIndex
from ..kernel.image import cached_image
from ..kernel.index import module_files
from .campaign import BugRecord, Campaign, FuzzOptions, now


@dataclass
class FuzzResult:
    records: list[tuple[str, BugRecord]] = field(default_factory=list)
    cases: int = 0
    ops: int = 0
    seconds: float = 0.0
    interrupted: bool = False


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
        if name in names or index.get(name) is None:
            continue
        names.append(name)
        image = index.get(name)
        todo += index.load_order(name) + image.softdep_post
    return ModuleIndex(index.get(n) for n in sorted(names))


def fuzz(targets: list[str], index: ModuleIndex, opts: FuzzOptions, progress: Any,
         isolation: str = "fork") -> FuzzResult:
    result = FuzzResult()
    # Hypothesis keeps caches of its own beside its database: in .kfuzz/ too, never in
    # a .hypothesis/ of the user's working directory
    home = opts.db_dir / "hypothesis" if opts.db_dir else Path(tempfile.gettempdir()) / "kfuzz-hypothesis"
    set_hypothesis_home_dir(str(home))
    share = opts.time_budget / len(targets) if opts.time_budget else None
    for target in targets:
        executor = make_executor(isolation, closure(index, target), opts.op_timeout)
        campaign = Campaign(target, executor.session.index if hasattr(executor, "session")
                            else executor.index, executor, opts, progress, share)
        progress.start(campaign)
        try:
            for record in campaign.run():
                result.records.append((target, record))
        except KeyboardInterrupt:
            result.interrupted = True
            _save_what_was_found(campaign, executor)
            for record in campaign.bugs.values():
                result.records.append((target, record))
            return result
        finally:
            result.cases += campaign.stats.cases
            result.ops += campaign.stats.ops
            result.seconds += campaign.stats.elapsed
            executor.close()
    return result


def _save_what_was_found(campaign: Campaign, executor: Any) -> None:
    """On Ctrl-C: report every bug met so far, unminimized, so nothing is lost."""
    if isinstance(executor, ForkExecutor):
        executor.kill()  # a request may have been cut off mid-way
    when = now()
    for record in campaign.bugs.values():
        if record.reported is None:
            campaign.finish(record, when, quick=True)
