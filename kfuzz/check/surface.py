"""What the module makes reachable once loaded: the nodes it creates, and the lines
of a program that make each one exist (load, and plug a device of its table).

Learnt by running those lines and reading the nodes each reply lists, as user
space would list /dev and /proc: no kernel internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..executor import Executor
from ..kernel import ModuleIndex
from ..kernel.device import PCI_ANY_ID
from ..prog import parse_op
from .sites import ioctl_numbers


@dataclass(frozen=True)
class Node:
    """A node the module creates, and the lines after which `open PATH` finds it."""

    path: str
    setup: tuple[str, ...]

    @property
    def is_dev(self) -> bool:
        return self.path.startswith("/dev/")


@dataclass
class Surface:
    target: str
    deps: list[str]  # what modprobe loads first, in its order
    ids: list[tuple[str, str]]  # the device table as `plug` takes it: (bus, id)
    nodes: list[Node] = field(default_factory=list)
    ioctls: list[int] = field(default_factory=list)  # ioctl numbers tried: the module's constants


def _concrete(v: int) -> int:
    return 0x1234 if v == PCI_ANY_ID else v


def table_ids(index: ModuleIndex, target: str) -> list[tuple[str, str]]:
    ids = []
    for dev in index.images[target].device_table:
        pair = f"{_concrete(dev.vendor):04x}:{_concrete(dev.device):04x}"
        ids.append((dev.bus, dev.name if dev.bus == "platform" else pair))
    return list(dict.fromkeys(ids))


def nodes_after(executor: Executor, settings: dict[str, str], lines: list[str]) -> set[str]:
    """The nodes there are after the lines, in a fresh kernel (empty if one failed)."""
    executor.begin(settings)
    nodes: set[str] = set()
    try:
        for line in lines:
            reply = executor.step(parse_op(line))
            if not reply.ok or reply.finding is not None:
                return set()
            nodes = set(reply.nodes)
    finally:
        executor.end()
    return nodes


def discover(executor: Executor, index: ModuleIndex, target: str, settings: dict[str, str]) -> Surface:
    """The module's nodes: those it makes at load, then those each device id's probe makes."""
    deps = [d for d in index.load_order(target) if d != target]
    image = index.images[target]
    ioctls = ioctl_numbers(image.content.decode(errors="replace"))[:8]
    ioctls = ioctls or [n for n in dict.fromkeys(image.ints) if 0x100 <= n < 2**32][:2] or [0]
    surface = Surface(target, deps, table_ids(index, target), ioctls=ioctls)
    base = nodes_after(executor, settings, [f"modprobe {d}" for d in deps])
    load = [f"modprobe {target}"]
    loaded = nodes_after(executor, settings, load)
    surface.nodes += [Node(p, tuple(load)) for p in sorted(loaded - base)]
    for bus, dev_id in surface.ids:
        setup = [*load, f"plug {bus} {dev_id} -> dev0"]
        made = nodes_after(executor, settings, setup) - loaded
        surface.nodes += [Node(p, tuple(setup)) for p in sorted(made)]
    return surface
