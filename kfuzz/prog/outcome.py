"""What running an operation or a program gives back: plain values only.

No kernel object (a File, a Device, a Buffer, the Kernel) is in here, so a
reply can cross a pipe, or later a network, and be written as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..kernel import Finding
from ..kernel.device import Device
from ..kernel.errno import errname
from ..kernel.fs import File
from ..kernel.sched import Preempt
from .values import format_data

# An operation's result as plain data: an int stays an int, an errno is its name
# ("-ENOMEM"), data is its `.kfz` literal, a bound object is its name, and None is
# an operation that a finding cut short.
Result = int | str | list["Result"] | None  # a list: a group's, one per task


def describe(result: object, bind: str | None = None) -> Result:
    if result is None:
        return None
    if isinstance(result, int):
        return errname(result) if result < 0 else int(result)
    if isinstance(result, (bytes, bytearray)):
        return format_data(bytes(result))
    if isinstance(result, (Device, File)) and bind:
        return bind
    return repr(result)


def failed(result: Result) -> bool:
    """An errno: the operation failed, and a name it would have bound stays unbound."""
    return isinstance(result, str) and result.startswith("-E")


@dataclass
class Reply:
    """What the fuzzer learns from one operation: its result, a finding if one
    fired, and the device nodes and loaded modules there are now."""

    result: Result
    finding: Finding | None = None
    nodes: tuple[str, ...] = ()
    loaded: tuple[str, ...] = ()
    dmesg: list[str] = field(default_factory=list)  # the kernel log, sent only with a finding
    faults: int = 0  # fallible calls the operation made (fail_nth past it fails nothing)
    fault_site: str = ""  # "module:line" of the call fail_nth made fail, if one did
    fired: tuple[Preempt, ...] = ()  # a group's: the preemptions of its schedule that fired

    @property
    def ok(self) -> bool:
        if isinstance(self.result, list):
            return not any(failed(r) for r in self.result)
        return not failed(self.result)

    def __reduce__(self) -> tuple[type[Reply], tuple[object, ...]]:
        # a tuple of the values pickles at a fraction of a dataclass's cost (one per operation)
        return Reply, (self.result, self.finding, self.nodes, self.loaded, self.dmesg, self.faults,
                       self.fault_site, self.fired)

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result, "finding": self.finding.to_dict() if self.finding else None,
                "nodes": list(self.nodes), "loaded": list(self.loaded), "dmesg": list(self.dmesg),
                "faults": self.faults, "fault_site": self.fault_site,
                "fired": [[p.task, p.call, p.nth, p.to] for p in self.fired]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        finding = Finding.from_dict(data["finding"]) if data.get("finding") else None
        fired = tuple(Preempt(*p) for p in data.get("fired", []))
        return cls(data["result"], finding, tuple(data["nodes"]), tuple(data["loaded"]),
                   list(data.get("dmesg", [])), data.get("faults", 0), data.get("fault_site", ""), fired)


@dataclass
class OpResult:
    """One line of a program and what it returned."""

    op: str
    result: Result
    faults: int = 0  # fallible calls it made
    fault_site: str = ""  # "module:line" of the call its fail_nth made fail, if one did
    schedule: tuple[str, ...] = ()  # a group's: the preemptions that fired, as `.kfz` writes them
    reached: tuple[str, ...] = ()  # a group's: every preemption that could have fired, in order

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "result": self.result, "faults": self.faults,
                               "fault_site": self.fault_site}
        if self.schedule:
            out["schedule"] = list(self.schedule)
        if self.reached:
            out["reached"] = list(self.reached)
        return out


@dataclass
class Outcome:
    """What a program did: its first finding, the kernel log, each line's result."""

    finding: Finding | None
    dmesg: list[str]
    results: list[OpResult] = field(default_factory=list)
    taints: str = "G"

    @property
    def failed(self) -> bool:
        return self.finding is not None

    def to_json(self) -> dict[str, Any]:
        return {"finding": self.finding.to_dict() if self.finding else None, "dmesg": list(self.dmesg),
                "results": [r.to_json() for r in self.results], "taints": self.taints}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        finding = Finding.from_dict(data["finding"]) if data.get("finding") else None
        results = [OpResult(r["op"], r["result"], r.get("faults", 0), r.get("fault_site", ""),
                            tuple(r.get("schedule", ())), tuple(r.get("reached", ())))
                   for r in data["results"]]
        return cls(finding, list(data["dmesg"]), results, data.get("taints", "G"))
