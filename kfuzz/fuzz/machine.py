"""The Hypothesis state machine: rules are the operations of repro-format.md.

Each test case is a fresh kernel; each rule sends one operation to it and
learns what exists now (nodes, loaded modules), so later rules draw paths
and names that reach code. Rules need no preconditions: one whose object is
missing (no open file yet) does the step that makes one instead, so every
step Hypothesis spends reaches the kernel.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from ..prog import Op
from ..prog.parse import format_data
from .dictionary import TICKS

# One draw gives both extras: mostly none, some fault injection, some `as nobody`.
EXTRAS = st.sampled_from([(None, False)] * 6 + [(n, False) for n in range(1, 9)] + [(None, True)] * 2)
FAULTS = st.sampled_from([None] * 6 + list(range(1, 9)))
COUNTS = st.sampled_from([16, 0, 1, 4, 64, 100, 4096, 65536])
UNLOADS = st.sampled_from([("rmmod",), ("modprobe", "-r")])  # never -f: what it breaks is no module bug


@cache
def index_of(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n - 1)


def pick(data: Any, items: list[Any] | tuple[Any, ...], label: str) -> Any:
    return items[data.draw(index_of(len(items)), label=label)]


def make_machine(campaign: Any) -> type[RuleBasedStateMachine]:
    d = campaign.dictionary
    modules = st.sampled_from(d.targets * 3 + [m for m in d.modules if m not in d.targets])
    params = {name: [st.sampled_from([None, *values]) for _, values in plist]
              for name, plist in d.params.items()}
    devices = st.sampled_from(d.device_ids)
    cmds = st.sampled_from(d.module_ints) | st.sampled_from(d.module_ints) | st.integers(-2**31, 2**32)
    ints = st.sampled_from(d.ints) | st.integers(0, 64) | st.integers(-2**31, 2**32)
    has_devices = bool(d.table_ids)
    payloads = st.sampled_from(d.data) | st.binary(max_size=80)

    class KernelMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            campaign.begin_case()
            self.ops: list[Op] = []
            self.nodes: tuple[str, ...] = ()
            self.seen_nodes: list[str] = []
            self.loaded: tuple[str, ...] = ()
            self.devs: list[str] = []
            self.fds: list[str] = []
            self.made = 0
            self.done = False

        # -- talking to the kernel ------------------------------------------------------
        def send(self, op: Op) -> bool:
            """Runs the operation; True if it succeeded. A finding ends the case."""
            self.ops.append(op)
            reply = campaign.step(op)
            self.nodes, self.loaded = reply.nodes, reply.loaded
            for node in reply.nodes:
                if node not in self.seen_nodes:
                    self.seen_nodes.append(node)
            if reply.finding is not None:
                self.done = True
                campaign.found(reply.finding, self.ops)
            return reply.ok and not self.done

        def name(self, prefix: str) -> str:
            self.made += 1
            return f"{prefix}{self.made - 1}"

        # -- steps that make things ------------------------------------------------------
        def do_load(self, data: Any) -> None:
            name = data.draw(modules, label="module")
            args = [name]
            plist = d.params.get(name, [])
            for (pname, _), values in zip(plist, params.get(name, []), strict=True):
                value = data.draw(values, label=pname)
                if value is not None:
                    args.append(f"{pname}={value}")
            verb = "modprobe" if data.draw(st.booleans(), label="modprobe") else "insmod"
            fail, nobody = data.draw(EXTRAS, label="extras")
            self.send(Op(verb, tuple(args), fail_nth=fail, nobody=nobody))

        def do_plug(self, data: Any) -> None:
            bus, dev_id = data.draw(devices, label="device")
            name = self.name("dev")
            if self.send(Op("plug", (bus, dev_id), bind=name, fail_nth=data.draw(FAULTS, label="fail"))):
                self.devs.append(name)

        def do_open(self, data: Any) -> None:
            if not self.seen_nodes:  # make something that makes a node
                loaded = d.targets[0] in self.loaded
                return self.do_plug(data) if loaded and has_devices else self.do_load(data)
            paths = self.nodes or self.seen_nodes
            path = pick(data, sorted(paths), "path")
            name = self.name("fd")
            fail, nobody = data.draw(EXTRAS, label="extras")
            if self.send(Op("open", (path,), bind=name, fail_nth=fail, nobody=nobody)):
                self.fds.append(name)

        def file(self, data: Any) -> str | None:
            """An open file, or None after opening one instead."""
            if not self.fds:
                self.do_open(data)
                return None
            return pick(data, self.fds, "fd")

        # -- the rules ---------------------------------------------------------------------
        @rule(data=st.data())
        def load(self, data: Any) -> None:
            if not self.done:
                self.do_load(data)

        @rule(data=st.data())
        def unload(self, data: Any) -> None:
            if self.done:
                return
            if not self.loaded:
                return self.do_load(data)
            name = pick(data, sorted(self.loaded), "module")
            how = data.draw(UNLOADS, label="how")
            args = (how[1], name) if how[0] == "modprobe" else (name, *how[1:])
            fail, nobody = data.draw(EXTRAS, label="extras")
            self.send(Op(how[0], args, fail_nth=fail, nobody=nobody))

        @rule(data=st.data())
        def plug(self, data: Any) -> None:
            if not self.done:
                self.do_plug(data)

        @rule(data=st.data())
        def unplug(self, data: Any) -> None:
            if self.done:
                return
            if not self.devs:
                return self.do_plug(data)
            dev = self.devs.pop(data.draw(index_of(len(self.devs)), label="dev"))
            self.send(Op("unplug", (dev,)))

        @rule(data=st.data())
        def open(self, data: Any) -> None:
            if not self.done:
                self.do_open(data)

        @rule(data=st.data(), count=COUNTS, fail=FAULTS)
        def read(self, data: Any, count: int, fail: int | None) -> None:
            fd = None if self.done else self.file(data)
            if fd:
                self.send(Op("read", (fd, str(count)), fail_nth=fail))

        @rule(data=st.data(), payload=payloads, fail=FAULTS)
        def write(self, data: Any, payload: bytes, fail: int | None) -> None:
            fd = None if self.done else self.file(data)
            if fd:
                self.send(Op("write", (fd, format_data(payload)), fail_nth=fail))

        @rule(data=st.data(), cmd=cmds, arg=ints, fail=FAULTS)
        def ioctl(self, data: Any, cmd: int, arg: int, fail: int | None) -> None:
            fd = None if self.done else self.file(data)
            if fd:
                self.send(Op("ioctl", (fd, _num(cmd), _num(arg)), fail_nth=fail))

        @rule(data=st.data())
        def close(self, data: Any) -> None:
            fd = None if self.done else self.file(data)
            if fd:
                self.fds.remove(fd)
                self.send(Op("close", (fd,)))

        @rule(data=st.data(), fail=FAULTS)
        def irq(self, data: Any, fail: int | None) -> None:
            if self.done:
                return
            if not self.devs:
                return self.do_plug(data)
            self.send(Op("irq", (pick(data, self.devs, "dev"),), fail_nth=fail))

        @rule(n=st.sampled_from(TICKS), fail=FAULTS)
        def tick(self, n: int, fail: int | None) -> None:
            if not self.done:
                self.send(Op("tick", (str(n),), fail_nth=fail))

        @rule(fail=FAULTS)
        def suspend(self, fail: int | None) -> None:
            if not self.done:
                self.send(Op("suspend", (), fail_nth=fail))

        @rule(setting=st.sampled_from([("kernel.panic_on_warn", "1"), ("kernel.modules_disabled", "1")]))
        def sysctl(self, setting: tuple[str, str]) -> None:
            if not self.done and len(self.ops) >= 8:  # late: it closes the door on loading
                self.send(Op("sysctl", setting))

        def teardown(self) -> None:
            if not self.done:
                reply = campaign.end()
                if reply.finding is not None:
                    self.done = True
                    campaign.found(reply.finding, self.ops)

    if not has_devices:  # nothing to plug: spend every step on what can reach code
        for name in ("plug", "unplug", "irq"):
            delattr(KernelMachine, name)
    return KernelMachine


def _num(v: int) -> str:
    return hex(v) if v > 255 else str(v)
