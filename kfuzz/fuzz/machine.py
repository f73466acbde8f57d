"""The Hypothesis state machine: one rule per entry of the operation table.

Each test case is a fresh kernel; each rule draws its operation's arguments
by their kind and sends it, and learns what exists now (nodes, loaded
modules), so later rules draw paths and names that reach code. Rules need no
preconditions: one whose object is missing (no open file yet) does the step
that makes one instead, so every step Hypothesis spends reaches the kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Protocol, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from ..kernel.device import DeviceId, parse_device_id
from ..kernel.fs import FASYNC, O_EXCL, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY
from ..kernel.ioctl import arg_size
from ..kernel.usbdesc import DEFAULT_ENDPOINTS, Endpoints
from ..prog import SPECS, TABLE, Group, Op, OpSpec, Props, Reply
from ..prog.args import (
    ArgKind,
    DataArg,
    DeviceIdArg,
    Flag,
    Int,
    IoctlArg,
    Line,
    NamedInt,
    OpenFlags,
    ParamsArg,
    PathArg,
    SettingArg,
    Use,
    Word,
)
from ..prog.ops import DRAW_EXTRAS, DRAW_FAULTS
from ..prog.outcome import failed
from ..prog.usbargs import EndpointsArg, UrbReplyArg
from ..prog.values import ArgValue, Data, Num, Ref
from .dictionary import TICKS
from .groups import GROUP_AFTER, GROUP_VERBS, draw_preemptions, draw_tasks, user_op
from .usbdraw import ENDPOINTS, endpoint_addrs, replies

if TYPE_CHECKING:
    from .campaign import Campaign

# One draw gives both properties: mostly none, some fault injection, some `as nobody`.
EXTRAS = st.sampled_from([Props()] * 6 + [Props(fail_nth=n) for n in range(1, 9)] + [Props(nobody=True)] * 2)
FAULTS = st.sampled_from([Props()] * 6 + [Props(fail_nth=n) for n in range(1, 9)])
COUNTS = st.sampled_from([16, 0, 1, 4, 64, 100, 4096, 65536])
SYSCTLS = st.sampled_from([("kernel.panic_on_warn", "1"), ("kernel.modules_disabled", "1")])
# mostly read-write, as programs before flags opened; some one-way, some O_NONBLOCK or O_EXCL
OPEN_FLAGS = st.sampled_from([O_RDWR] * 6 + [O_RDONLY, O_WRONLY, O_RDWR | O_NONBLOCK,
                                             O_RDONLY | O_NONBLOCK, O_RDWR | O_EXCL])
OFFSETS = st.sampled_from([0, 1, 4, 16, 64, 255, 256, 4096, -1, -16]) | st.integers(-2**31, 2**32)
NAMED = {"whence": st.sampled_from([0, 0, 1, 2, 3, 4, 5]),
         "setfl": st.sampled_from([FASYNC, 0, O_NONBLOCK, O_NONBLOCK | FASYNC])}


@dataclass(frozen=True)
class Instead:
    """What a rule does when the object an argument needs is missing: make one."""

    what: str  # "load", "node", "fd", "dev"


@cache
def index_of(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n - 1)


T = TypeVar("T")


def pick(data: st.DataObject, items: Sequence[T], label: str) -> T:
    return items[data.draw(index_of(len(items)), label=label)]


def make_machine(campaign: Campaign) -> type[RuleBasedStateMachine]:
    d = campaign.dictionary
    modules = st.sampled_from(d.targets * 3 + [m for m in d.modules if m not in d.targets])
    params = {name: [st.sampled_from([None, *values]) for _, values in plist]
              for name, plist in d.params.items()}
    # the module's own devices three times as often as the ones that match nothing
    devices = st.sampled_from([parse_device_id(bus, text)
                               for bus, text in d.table_ids * 2 + d.device_ids])
    own_devices = st.sampled_from([parse_device_id(bus, text) for bus, text in d.table_ids or d.device_ids])
    cmds = st.sampled_from(d.module_ints) | st.sampled_from(d.module_ints) | st.integers(-2**31, 2**32)
    ints = st.sampled_from(d.ints) | st.integers(0, 64) | st.integers(-2**31, 2**32)
    numbers = {"count": COUNTS, "cmd": cmds, "arg": ints, "jiffies": st.sampled_from(TICKS),
               "offset": OFFSETS}
    has_devices = bool(d.table_ids)
    payloads = st.sampled_from(d.data) | st.binary(max_size=80)
    urb_replies = replies(payloads)

    class KernelMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            campaign.begin_case()
            self.ops: list[Op] = []
            self.nodes: tuple[str, ...] = ()
            self.seen_nodes: list[str] = []
            self.loaded: tuple[str, ...] = ()
            self.held: dict[str, list[str]] = {"dev": [], "fd": []}  # names bound and alive
            self.usb: dict[str, Endpoints] = {}  # the devices plugged on the usb bus, for `urb`
            self.dev_of: dict[str, str] = {}  # a node, or a file opened on it: the device it came with
            self.focus: str | None = None  # in a group: the device of the file a task uses
            self.made = 0
            self.done = False

        # -- talking to the kernel ------------------------------------------------------
        def send(self, op: Op) -> bool:
            """Runs the operation; True if it succeeded. A finding ends the case."""
            self.ops.append(op)
            reply = campaign.step(op)
            self.learn(reply)
            return reply.ok and not self.done

        def learn(self, reply: Reply) -> None:
            """What exists now; a finding ends the case."""
            self.nodes, self.loaded = reply.nodes, reply.loaded
            for node in reply.nodes:
                if node not in self.seen_nodes:
                    self.seen_nodes.append(node)
            if reply.finding is not None:
                self.done = True
                campaign.found(reply.finding, self.ops, dmesg=reply.dmesg)

        # -- drawing an operation by its table entry ----------------------------------------
        def draw(self, kind: ArgKind, prior: list[ArgValue], data: st.DataObject,
                 plain: bool = False) -> ArgValue | Instead:
            """One argument of its kind, or Instead when what it needs is missing. PLAIN
            (a step that makes what another needs): a device of the module's own, as a
            driver expects it."""
            if isinstance(kind, (Use, Line)):
                resource = kind.resource if isinstance(kind, Use) else "dev"
                names = self.candidates(kind)
                if not names:
                    return Instead(resource)
                if resource == "dev":
                    names = self.focused(names)
                label = "dev" if isinstance(kind, Line) or kind.role == "usbdev" else resource
                name = pick(data, names, label)
                if isinstance(kind, Use) and kind.consumes:
                    self.held[resource].remove(name)
                return Ref(name, resource)
            if isinstance(kind, Word):
                if kind.role == "loaded":
                    return pick(data, sorted(self.loaded), "module") if self.loaded else Instead("load")
                return data.draw(modules, label="module")
            if isinstance(kind, ParamsArg):
                module = str(prior[0])  # the parameters follow the module's name
                plist = d.params.get(module, [])
                drawn = [(pname, data.draw(values, label=pname))
                         for (pname, _), values in zip(plist, params.get(module, []), strict=True)]
                return tuple((k, v) for k, v in drawn if v is not None)
            if isinstance(kind, PathArg):
                if not self.seen_nodes:
                    return Instead("node")
                return pick(data, sorted(self.nodes or self.seen_nodes), "path")
            if isinstance(kind, Int) and kind.role == "endpoint":  # one of the device's own
                return Num(data.draw(endpoint_addrs(self.usb.get(str(prior[0]))), label="endpoint"))
            if isinstance(kind, Int):
                return Num(data.draw(numbers[kind.role], label=kind.role))
            if isinstance(kind, IoctlArg):
                # a buffer of the size the command encodes, mostly, when it encodes one;
                # else mostly an integer, sometimes a small buffer (an int or a pointer's worth)
                cmd = prior[1]
                size = arg_size(cmd) if isinstance(cmd, int) else 0
                # (0, what Hypothesis shrinks to, is an integer: the plainer argument)
                if data.draw(st.integers(0, 3), label="arg kind") >= (1 if size else 3):
                    n = size or data.draw(st.sampled_from([4, 8, 16]), label="arg size")
                    return Data(data.draw(st.binary(min_size=n, max_size=n), label="arg data"))
                return Num(data.draw(ints, label="arg"))
            if isinstance(kind, NamedInt):
                return Num(data.draw(NAMED[kind.role], label=kind.role))
            if isinstance(kind, DataArg):
                return Data(data.draw(payloads, label="data"))
            if isinstance(kind, DeviceIdArg):
                return data.draw(own_devices if plain else devices, label="device")
            if isinstance(kind, Flag):
                return kind.fuzzed and data.draw(st.booleans(), label=kind.word)
            if isinstance(kind, SettingArg):
                return data.draw(SYSCTLS, label="sysctl")
            if isinstance(kind, OpenFlags):
                return data.draw(OPEN_FLAGS, label="flags")
            if isinstance(kind, EndpointsArg):  # only a usb device has endpoints
                usb = isinstance(prior[0], DeviceId) and prior[0].bus == "usb"
                return data.draw(ENDPOINTS, label="endpoints") if usb and not plain else DEFAULT_ENDPOINTS
            if isinstance(kind, UrbReplyArg):
                return data.draw(urb_replies, label="reply")
            raise TypeError(f"no strategy for {kind!r}")

        def compose(self, spec: OpSpec, data: st.DataObject, plain: bool = False) -> Op | Instead:
            """One operation drawn by its table entry, or what it needs and is missing;
            PLAIN, with no fault injected and a device as its driver expects it."""
            args: list[ArgValue] = []
            for kind in spec.args:
                value = self.draw(kind, args, data, plain)
                if isinstance(value, Instead):
                    return value
                args.append(value)
            props = Props()
            if plain:  # made to be used: no fault injected
                pass
            elif spec.draw == DRAW_EXTRAS:
                props = data.draw(EXTRAS, label="props")
            elif spec.draw == DRAW_FAULTS:
                props = data.draw(FAULTS, label="props")
            bind = None
            if spec.binds:
                self.made += 1
                bind = f"{spec.binds}{self.made - 1}"
            return Op(spec.verb, tuple(args), bind, props)

        def focused(self, devs: list[str]) -> list[str]:
            """The devices, the one of the file a group's task uses first (what a draw of
            0 gives): a race is between a file and its own device's teardown."""
            if self.focus and self.focus in devs:
                return [self.focus, *(d for d in devs if d != self.focus)]
            return devs

        def run(self, spec: OpSpec, data: st.DataObject, plain: bool = False) -> None:
            op = self.compose(spec, data, plain)
            if isinstance(op, Instead):
                return self.make(op.what, data)
            before = set(self.nodes)
            if self.send(op) and op.bind and op.spec.binds:
                self.held[op.spec.binds].append(op.bind)
                if spec.binds == "dev":  # the nodes its probe made are the device's
                    self.dev_of.update((n, op.bind) for n in self.nodes if n not in before)
                elif op.args and str(op.args[0]) in self.dev_of:  # a file opened on a node
                    self.dev_of[op.bind] = self.dev_of[str(op.args[0])]
                if isinstance(op.args[0], DeviceId) and op.args[0].bus == "usb":
                    self.usb[op.bind] = op.args[1]  # type: ignore[assignment]  # plug's endpoints

        def run_group(self, data: st.DataObject) -> None:
            """2 or 3 operations at once, under drawn preemptions (groups.py)."""
            specs = [s for s in group_specs if self.ready(s)]
            if not specs:
                return self.make("fd", data)
            tasks = draw_tasks(data, specs)
            slots: list[Op | None] = [None] * len(tasks)
            try:
                # the tasks on a file drawn first, so that a teardown's device is the file's
                for i in sorted(range(len(tasks)), key=lambda i: not _uses_file(tasks[i])):
                    spec = tasks[i]
                    if spec is None:
                        slots[i] = user_op(data, i + 1, len(tasks))
                        continue
                    op = self.compose(spec, data)
                    if isinstance(op, Instead):
                        return self.make(op.what, data)
                    slots[i] = op
                    if self.focus is None and _uses_file(spec):
                        self.focus = self.dev_of.get(str(op.args[0]), "")
            finally:
                self.focus = None
            ops = [op for op in slots if op is not None]
            group = Group(tasks=tuple(ops), drawn=draw_preemptions(data, len(ops)))
            self.ops.append(group)
            reply = campaign.step(group)
            # the program keeps the schedule that fired, so that it replays exactly
            self.ops[-1] = Group(tasks=group.tasks, schedule=reply.fired)
            self.learn(reply)
            results = reply.result if isinstance(reply.result, list) else []
            for op, result in zip(ops, results, strict=False):
                if op.bind and op.spec.binds and not failed(result) and not self.done:
                    self.held[op.spec.binds].append(op.bind)

        def candidates(self, kind: Use | Line) -> list[str]:
            """The names bound and alive that an argument of this kind can take."""
            if isinstance(kind, Line):
                return self.held["dev"]
            names = self.held[kind.resource]
            if kind.role == "usbdev":  # an URB's answer goes to a usb device
                return [n for n in names if n in self.usb]
            return names

        def ready(self, spec: OpSpec) -> bool:
            """Whether each argument the operation needs exists now (a group draws only those)."""
            for kind in spec.args:
                if isinstance(kind, (Use, Line)) and not self.candidates(kind):
                    return False
                if isinstance(kind, Word) and kind.role == "loaded" and not self.loaded:
                    return False
                if isinstance(kind, PathArg) and not self.seen_nodes:
                    return False
            return True

        def make(self, what: str, data: st.DataObject) -> None:
            """The step that makes what a rule needed: a module, a node, a file, a device."""
            if what == "node":  # make something that makes a node
                loaded = d.targets[0] in self.loaded
                what = "dev" if loaded and has_devices else "load"
            if what == "load":
                return self.run_rule(rules["load"], data)
            # made to be used: plainly, so that the step that needed it can run next time
            self.run(SPECS[{"fd": "open", "dev": "plug"}[what]], data, plain=True)

        def run_rule(self, specs: list[OpSpec], data: st.DataObject) -> None:
            """One of the verbs that share a rule (insmod or modprobe...)."""
            self.run(pick(data, specs, "verb") if len(specs) > 1 else specs[0], data)

        def teardown(self) -> None:
            if not self.done:
                reply = campaign.end()
                if reply.finding is not None:
                    self.done = True
                    campaign.found(reply.finding, self.ops, dmesg=reply.dmesg)

    group_specs = [SPECS[verb] for verb in GROUP_VERBS if not (SPECS[verb].needs_devices and not has_devices)]
    if campaign.opts.groups:  # two rules of the ~16: a race needs its pair of operations in one group
        setattr(KernelMachine, "together", rule(data=st.data())(_group_step))
        setattr(KernelMachine, "together_again", rule(data=st.data())(_group_step_again))
    rules: dict[str, list[OpSpec]] = {}
    for spec in TABLE:
        if spec.group_only:
            continue  # drawn only inside a concurrent group
        if spec.needs_devices and not has_devices:
            continue  # nothing to plug: spend every step on what can reach code
        rules.setdefault(spec.rule_name, []).append(spec)
    for name, specs in rules.items():
        setattr(KernelMachine, name, rule(data=st.data())(_step(name, specs)))
    return KernelMachine


def _uses_file(spec: OpSpec | None) -> bool:
    return spec is not None and any(isinstance(k, Use) and k.resource == "fd" for k in spec.args)


class _Runs(Protocol):
    """What a rule's step needs of the machine."""

    done: bool
    ops: list[Op]

    def run_rule(self, specs: list[OpSpec], data: st.DataObject) -> None: ...

    def run_group(self, data: st.DataObject) -> None: ...


def _group_step(self: _Runs, data: st.DataObject) -> None:
    """The `together` rule: once the case has something to race on."""
    if not self.done and len(self.ops) >= GROUP_AFTER:
        self.run_group(data)


def _group_step_again(self: _Runs, data: st.DataObject) -> None:
    """The `together` rule's twin: groups get two shares of the steps (Hypothesis
    picks among rules evenly), as races need a pair of operations drawn together."""
    _group_step(self, data)


def _step(name: str, specs: list[OpSpec]) -> Callable[[_Runs, st.DataObject], None]:
    """The body of one rule: the verbs that share it, once the case is long enough."""
    after = min(spec.after for spec in specs)

    def step(self: _Runs, data: st.DataObject) -> None:
        if not self.done and len(self.ops) >= after:
            self.run_rule(specs, data)

    step.__name__ = name
    return step
