"""The test case: a fresh kernel and up to `steps` rules, one per entry of the operation table.

Each rule draws its operation's arguments by their kind and sends it, and learns
what exists now (nodes, loaded modules), so later rules draw paths and names that
reach code. Rules need no preconditions: one whose object is missing (no open file
yet) does the step that makes one instead, so every step Hypothesis spends reaches
the kernel.

This is what Hypothesis's RuleBasedStateMachine does, less what kfuzz does not use
(bundles, invariants, printing each step, a filtered draw and an `st.data()` per
rule): a rule is one choice among the rules this case enabled (swarm testing, as
the state machine's feature flags do it), each step a span that Hypothesis's
mutator can copy and swap, and every draw a choice of its own (choices.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

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
from .choices import Bytes, Choices, Draw, Ints, OneOf, Pick
from .dictionary import TICKS
from .groups import GROUP_AFTER, GROUP_VERBS, draw_preemptions, draw_tasks, user_op
from .usbdraw import ENDPOINTS, endpoint_addrs, replies

if TYPE_CHECKING:
    from .campaign import Campaign

# One draw gives both properties: mostly none, some fault injection, some `as nobody`.
EXTRAS = Pick([Props()] * 6 + [Props(fail_nth=n) for n in range(1, 9)] + [Props(nobody=True)] * 2)
FAULTS = Pick([Props()] * 6 + [Props(fail_nth=n) for n in range(1, 9)])
COUNTS = Pick([16, 0, 1, 4, 64, 100, 4096, 65536])
SYSCTLS = Pick([("kernel.panic_on_warn", "1"), ("kernel.modules_disabled", "1")])
# mostly read-write, as programs before flags opened; some one-way, some O_NONBLOCK or O_EXCL
OPEN_FLAGS = Pick([O_RDWR] * 6 + [O_RDONLY, O_WRONLY, O_RDWR | O_NONBLOCK,
                                  O_RDONLY | O_NONBLOCK, O_RDWR | O_EXCL])
OFFSETS: Draw[int] = OneOf(Pick([0, 1, 4, 16, 64, 255, 256, 4096, -1, -16]), Ints(-2**31, 2**32))
NAMED = {"whence": Pick([0, 0, 1, 2, 3, 4, 5]),
         "setfl": Pick([FASYNC, 0, O_NONBLOCK, O_NONBLOCK | FASYNC])}


@dataclass(frozen=True)
class Instead:
    """What a rule does when the object an argument needs is missing: make one."""

    what: str  # "load", "node", "fd", "dev"


STEP = 0x6B66757A7A  # the span label of one step ("kfuzz"), what the mutator copies
MAX_STEPS_STOP = 2**-16  # a step ends the case early this rarely, as the state machine's


def make_machine(campaign: Campaign) -> Callable[[Choices], None]:
    """The test case's body: `run_case(choices)` runs one case on a fresh kernel."""
    d = campaign.dictionary
    modules = Pick(d.targets * 3 + [m for m in d.modules if m not in d.targets])
    params = {name: [Pick([None, *values]) for _, values in plist]
              for name, plist in d.params.items()}
    # the module's own devices three times as often as the ones that match nothing
    devices = Pick([parse_device_id(bus, text) for bus, text in d.table_ids * 2 + d.device_ids])
    own_devices = Pick([parse_device_id(bus, text) for bus, text in d.table_ids or d.device_ids])
    cmds: Draw[int] = OneOf(Pick(d.module_ints), Pick(d.module_ints), Ints(-2**31, 2**32))
    ints: Draw[int] = OneOf(Pick(d.ints), Ints(0, 64), Ints(-2**31, 2**32))
    numbers: dict[str, Draw[int]] = {"count": COUNTS, "cmd": cmds, "arg": ints, "jiffies": Pick(TICKS),
                                     "offset": OFFSETS}
    has_devices = bool(d.table_ids)
    payloads: Draw[bytes] = OneOf(Pick(d.data), Bytes(0, 80))
    urb_replies = replies(payloads)

    class KernelMachine:
        def __init__(self) -> None:
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
        def draw(self, kind: ArgKind, prior: list[ArgValue], data: Choices,
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
                name = data.pick(names)
                if isinstance(kind, Use) and kind.consumes:
                    self.held[resource].remove(name)
                return Ref(name, resource)
            if isinstance(kind, Word):
                if kind.role == "loaded":
                    return data.pick(sorted(self.loaded)) if self.loaded else Instead("load")
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
                return data.pick(sorted(self.nodes or self.seen_nodes))
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
                if data.index(4) >= (1 if size else 3):
                    n = size or data.pick([4, 8, 16])
                    return Data(data.binary(n, n))
                return Num(data.draw(ints, label="arg"))
            if isinstance(kind, NamedInt):
                return Num(data.draw(NAMED[kind.role], label=kind.role))
            if isinstance(kind, DataArg):
                return Data(data.draw(payloads, label="data"))
            if isinstance(kind, DeviceIdArg):
                return data.draw(own_devices if plain else devices, label="device")
            if isinstance(kind, Flag):
                return kind.fuzzed and data.boolean()
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

        def compose(self, spec: OpSpec, data: Choices, plain: bool = False) -> Op | Instead:
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

        def run(self, spec: OpSpec, data: Choices, plain: bool = False) -> None:
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

        def run_group(self, data: Choices) -> None:
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

        def make(self, what: str, data: Choices) -> None:
            """The step that makes what a rule needed: a module, a node, a file, a device."""
            if what == "node":  # make something that makes a node
                loaded = d.targets[0] in self.loaded
                what = "dev" if loaded and has_devices else "load"
            if what == "load":
                return self.run_rule(verbs["load"], data)
            # made to be used: plainly, so that the step that needed it can run next time
            self.run(SPECS[{"fd": "open", "dev": "plug"}[what]], data, plain=True)

        def run_rule(self, specs: list[OpSpec], data: Choices) -> None:
            """One of the verbs that share a rule (insmod or modprobe...)."""
            self.run(data.pick(specs), data)

        def teardown(self) -> None:
            if not self.done:
                reply = campaign.end()
                if reply.finding is not None:
                    self.done = True
                    campaign.found(reply.finding, self.ops, dmesg=reply.dmesg)

    group_specs = [SPECS[verb] for verb in GROUP_VERBS if not (SPECS[verb].needs_devices and not has_devices)]
    verbs: dict[str, list[OpSpec]] = {}
    for spec in TABLE:
        if spec.group_only:
            continue  # drawn only inside a concurrent group
        if spec.needs_devices and not has_devices:
            continue  # nothing to plug: spend every step on what can reach code
        verbs.setdefault(spec.rule_name, []).append(spec)
    rules = {name: _step(specs) for name, specs in verbs.items()}
    if campaign.opts.groups:  # two rules of the ~16: a race needs its pair of operations in one group
        rules["together"] = rules["together_again"] = _group_step
    # in the state machine's order (by name): a draw of 0, what shrinking goes to, is the first
    steps = [rules[name] for name in sorted(rules)]
    max_steps = campaign.opts.steps

    def run_case(data: Choices) -> None:
        """A case: the rules it enables (each disabled with one probability drawn for
        the case, never all), then up to max_steps of them, each drawn among those."""
        machine = KernelMachine()
        p_disabled = data.cd.draw_integer(0, 254) / 255
        enabled = [step for step in steps if not data.boolean(p_disabled)] or steps
        for n in range(max_steps + 1):
            if data.boolean(MAX_STEPS_STOP, forced=True if n == max_steps else None):
                break
            data.begin(STEP)
            data.pick(enabled)(machine, data)
            data.end()
        machine.teardown()

    return run_case


def _uses_file(spec: OpSpec | None) -> bool:
    return spec is not None and any(isinstance(k, Use) and k.resource == "fd" for k in spec.args)


class _Runs(Protocol):
    """What a rule's step needs of the machine."""

    done: bool
    ops: list[Op]

    def run_rule(self, specs: list[OpSpec], data: Choices) -> None: ...

    def run_group(self, data: Choices) -> None: ...


def _group_step(self: _Runs, data: Choices) -> None:
    """The `together` rule (and its twin `together_again`: groups get two shares of the
    steps, as races need a pair of operations drawn together), once the case has
    something to race on."""
    if not self.done and len(self.ops) >= GROUP_AFTER:
        self.run_group(data)


def _step(specs: list[OpSpec]) -> Callable[[_Runs, Choices], None]:
    """The body of one rule: the verbs that share it, once the case is long enough."""
    after = min(spec.after for spec in specs)

    def step(self: _Runs, data: Choices) -> None:
        if not self.done and len(self.ops) >= after:
            self.run_rule(specs, data)

    return step
