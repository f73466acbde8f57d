"""Values that reach deep code quickly, read from the modules' own declarations.

Like AFL's dictionary: ioctl numbers, magic values and strings come from the
module source; parameters from their declared types, defaults and edges;
device ids from the device tables, plus some that match nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..kernel import ModuleIndex
from ..kernel.device import PCI_ANY_ID
from ..kernel.params import PARAM_TYPES

INT_EDGES = [0, 1, -1, 2, 7, 8, 16, 64, 255, 256, 4095, 4096, 65535, 2**31 - 1, -2**31, 2**32 - 1]
UNMATCHED_IDS = [("pci", "1af4:1000"), ("usb", "1d6b:0002"), ("platform", "serial8250")]
TICKS = [1, 2, 5, 10, 50, 100, 1000]


@dataclass
class Dictionary:
    targets: list[str]
    modules: list[str]
    params: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)
    device_ids: list[tuple[str, str]] = field(default_factory=list)
    table_ids: list[tuple[str, str]] = field(default_factory=list)
    ints: list[int] = field(default_factory=list)
    module_ints: list[int] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)


def _param_values(ptype: str, default: object, ints: list[int], strings: list[str]) -> list[str]:
    if ptype == "bool":
        return ["1", "0", "y", "n"]
    if ptype in PARAM_TYPES and PARAM_TYPES[ptype] is int:  # int and the unsigned types
        values = [default, *INT_EDGES, *ints[:24]]
        return list(dict.fromkeys(str(v) for v in values))
    values = [default, "", "x", *strings[:16], "A" * 300]
    return list(dict.fromkeys(str(v) for v in values if " " not in str(v) and '"' not in str(v)))


def _concrete(v: int) -> int:
    return 0x1234 if v == PCI_ANY_ID else v


def build_dictionary(index: ModuleIndex, targets: list[str]) -> Dictionary:
    modules = list(dict.fromkeys([*targets, *index.names()]))
    d = Dictionary(targets, modules)
    ints: list[int] = []
    strings: list[str] = []
    for name in modules:
        image = index.images[name]
        ints += image.ints
        strings += image.strings
        for dev in image.device_table:
            text = dev.name if dev.bus == "platform" else \
                f"{_concrete(dev.vendor):04x}:{_concrete(dev.device):04x}"
            d.device_ids.append((dev.bus, text))
    ints = list(dict.fromkeys(ints))
    strings = list(dict.fromkeys(strings))
    for name in modules:
        image = index.images[name]
        d.params[name] = [(p.name, _param_values(p.type, p.default, ints, strings))
                          for p in image.params.values()]
    d.table_ids = list(dict.fromkeys(d.device_ids))
    d.device_ids = d.table_ids + UNMATCHED_IDS
    d.ints = list(dict.fromkeys([*ints, *INT_EDGES]))
    d.module_ints = ints or [0]
    sizes = [0, 1, 15, 16, 17, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 1024, 4096, 4097]
    # short strings first (a command, a magic word), as what Hypothesis draws most is the
    # first; metadata and messages (long, with spaces) last
    texts = [t.encode() for t in strings if t.isprintable()][:32]
    short = sorted((t for t in texts if 0 < len(t) <= 8 and b" " not in t), key=len)
    d.data = short + [b"A" * n for n in sizes if n] + [t for t in texts if t not in short] + [b""]
    return d
