"""The bytes on the pipe between the fuzzer and its kernel worker.

One operation crosses each way per step, so the common case has an encoding of
its own: a plain operation as a flat tuple of plain values, and a reply with no
finding as its result and counts, both in `marshal` (the worker is a fork of the
fuzzer: one Python, one format), several times cheaper than pickling the
dataclasses. A reply's nodes and loaded modules, which most operations leave as
they were, cross only when they changed. Everything else (a group, an operation
with a device id, a finding, a whole program's outcome) is pickled as before.
"""

from __future__ import annotations

import marshal
import pickle
from dataclasses import dataclass

from ..prog import Reply
from .protocol import Request, StepRequest, _step

PLAIN_STEP, PLAIN_REPLY, PICKLED = b"S", b"R", b"P"


def encode_request(request: Request | None) -> bytes:
    if isinstance(request, StepRequest):
        make, flat = request.__reduce__()
        if make is _step:  # a plain operation (a group is pickled whole)
            try:
                return PLAIN_STEP + marshal.dumps(flat)  # type: ignore[arg-type]  # ValueError if not
            except ValueError:  # an argument marshal cannot hold (a device id): pickled
                pass
    return PICKLED + pickle.dumps(request, pickle.HIGHEST_PROTOCOL)


def decode_request(data: bytes) -> Request | None:
    if data[:1] == PLAIN_STEP:
        return _step(*marshal.loads(data[1:]))
    request: Request | None = pickle.loads(data[1:])
    return request


@dataclass
class ReplyState:
    """The nodes and loaded modules the other side last saw (one per end of the pipe)."""

    nodes: tuple[str, ...] = ()
    loaded: tuple[str, ...] = ()


def encode_reply(status: str, value: object, state: ReplyState) -> bytes:
    if status == "ok" and isinstance(value, Reply) and value.finding is None and not value.fired \
            and not value.dmesg:
        nodes = None if value.nodes == state.nodes else value.nodes
        loaded = None if value.loaded == state.loaded else value.loaded
        try:
            data = marshal.dumps((value.result, nodes, loaded, value.faults, value.fault_site))
        except ValueError:
            pass
        else:
            state.nodes, state.loaded = value.nodes, value.loaded
            return PLAIN_REPLY + data
    if isinstance(value, Reply):
        state.nodes, state.loaded = value.nodes, value.loaded
    return PICKLED + pickle.dumps((status, value), pickle.HIGHEST_PROTOCOL)


def decode_reply(data: bytes, state: ReplyState) -> tuple[str, object]:
    if data[:1] == PLAIN_REPLY:
        result, nodes, loaded, faults, fault_site = marshal.loads(data[1:])
        if nodes is not None:
            state.nodes = tuple(nodes)
        if loaded is not None:
            state.loaded = tuple(loaded)
        return "ok", Reply(result, None, state.nodes, state.loaded, [], faults, fault_site)
    status, value = pickle.loads(data[1:])
    if isinstance(value, Reply):
        state.nodes, state.loaded = value.nodes, value.loaded
    return status, value
