"""`kfuzz check`: every check over one module, in order, each a checklist line.

The checks that run generated programs share one executor (a forked worker) over the
module and the modules it loads; the fuzz part runs the fuzzer itself.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..executor import make_executor
from ..fuzz import closure
from ..kernel import ModuleIndex
from .cycles import load_cycles
from .devices import device_cycles
from .faultsweep import fault_checks
from .fuzzpart import DEFAULT_EXAMPLES, SEED, fuzz_part
from .metadata import licence, signature, taint
from .pinning import pinning
from .probe import Prober
from .races import races
from .result import CheckResult, ModuleCheck, Unreached
from .sites import declared_fops, fallible_sites
from .surface import discover


@dataclass
class CheckOptions:
    reports: Path = Path("reports")
    keyring: Path | None = None
    keys: tuple[bytes, ...] = ()  # the keyring's key, read by the caller
    require_signature: bool = False
    fuzz_examples: int = DEFAULT_EXAMPLES
    isolation: str = "fork"
    op_timeout: float = 0.5
    settings: dict[str, str] = field(default_factory=lambda: {"autoload": "1"})


def check_module(target: str, index: ModuleIndex, opts: CheckOptions, run: str = "",
                 on_result: Callable[[CheckResult], None] | None = None) -> ModuleCheck:
    """Every check of one module; `on_result` hears each line as it is done."""
    start = time.monotonic()
    scope = closure(index, target)
    image = scope.images[target]
    done = ModuleCheck(target, image.path)

    def add(result: CheckResult) -> None:
        done.results.append(result)
        if on_result is not None:
            on_result(result)

    executor = make_executor(opts.isolation, scope, opts.op_timeout)
    try:
        prober = Prober(target, scope, executor, opts.reports, opts.settings, SEED, run or uuid.uuid4().hex)
        surface = discover(executor, scope, target, opts.settings)
        add(load_cycles(prober, surface))
        for result in fault_checks(prober, surface):
            add(result)
        add(device_cycles(prober, surface))
        add(pinning(prober, surface))
        add(races(prober, surface))
        add(licence(scope, target))
        add(signature(scope, target, opts.keys, opts.keyring, opts.require_signature))
        add(taint(prober, target, opts.keyring))
    finally:
        executor.close()
    add(fuzz_part(target, index, opts.fuzz_examples, opts.reports, opts.isolation, opts.op_timeout))
    source = image.content.decode(errors="replace")
    done.unreached = Unreached(
        [s.format(image.path) for s in fallible_sites(target, source) if s.key not in prober.failed_sites],
        [f.format() for f in declared_fops(source) if f.op not in prober.exposed])
    done.seconds = time.monotonic() - start
    return done
