"""The executor protocol: requests and replies are plain values that survive JSON,
so that they can cross a machine; no kernel object is in them."""

from __future__ import annotations

import json
import marshal

from kfuzz.executor.inprocess import InProcessExecutor
from kfuzz.executor.protocol import EndRequest, RunRequest, StepRequest
from kfuzz.executor.wire import ReplyState, decode_reply, decode_request, encode_reply, encode_request
from kfuzz.kernel import ModuleIndex
from kfuzz.prog import Outcome, Reply, parse_op, parse_program

BODY = """
buf = [None]

def j_open(inode, file):
    return 0

def j_read(file, count):
    return b"\\x00hi"

def j_ioctl(file, cmd, arg):
    if cmd == 1:
        buf[0] = kzalloc(8)
        kfree(buf[0])
        buf[0][0] = 1   # use after free
    return 0
"""


def through_json(data: dict) -> dict:
    return json.loads(json.dumps(data))


def test_requests_survive_json() -> None:
    step = StepRequest(parse_op("ioctl fd0 0x10 -1 (fail_nth: 2)"), {"panic_on_warn": "1"})
    assert StepRequest.from_json(through_json(step.to_json())) == step
    nobody = StepRequest(parse_op('as nobody write fd3 x\'00ff\''))
    assert StepRequest.from_json(through_json(nobody.to_json())) == nobody
    end = EndRequest({"autoload": "1"})
    assert EndRequest.from_json(through_json(end.to_json())) == end
    prog = parse_program("insmod m\nplug pci 8086:1234 -> dev0\nunbind dev0\nbind dev0\nunplug dev0\n")
    again = RunRequest.from_json(through_json(RunRequest(prog).to_json())).program
    assert again.ops == prog.ops and again.modules == prog.modules


def test_replies_of_a_real_kernel_survive_json(lab) -> None:  # noqa: ANN001
    lab.device("j", BODY)
    executor = InProcessExecutor(ModuleIndex.scan(lab.paths))
    executor.begin({})
    replies = [executor.step(parse_op(line)) for line in
               ("insmod j", "open /dev/j -> fd0", "read fd0 3", "ioctl fd0 1 0")]
    assert [r.result for r in replies[:3]] == [0, "fd0", "x'006869'"]
    assert replies[3].finding is not None and replies[3].finding.kind == "use-after-free"
    for reply in replies:
        assert Reply.from_json(through_json(reply.to_json())) == reply
    prog = parse_program(f"# modules: {lab.paths[0]}\ninsmod j\nopen /dev/j -> fd0\nioctl fd0 1 0\n")
    outcome = executor.run(prog)
    assert outcome.finding is not None and outcome.results
    assert Outcome.from_json(through_json(outcome.to_json())) == outcome
    executor.close()


def test_the_pipe_carries_requests_and_replies_whole(lab) -> None:  # noqa: ANN001
    """executor/wire.py: marshal for the common case, pickle for the rest, and a reply's
    nodes and modules only when they changed; what arrives equals what was sent."""
    steps = [StepRequest(parse_op("ioctl fd0 0x10 -1 (fail_nth: 2)"), {"panic_on_warn": "1"}),
             StepRequest(parse_op('as nobody write fd3 x\'00ff\'')),
             StepRequest(parse_op("plug usb 0c45:1010 ii8 -> dev0")),  # a device id: pickled
             EndRequest({"autoload": "1"}), None]
    for request in steps:
        assert decode_request(encode_request(request)) == request
    assert encode_request(steps[0])[:1] == b"S" and encode_request(steps[2])[:1] == b"P"

    lab.device("j", BODY)
    executor = InProcessExecutor(ModuleIndex.scan(lab.paths))
    executor.begin({})
    replies = [executor.step(parse_op(line)) for line in
               ("insmod j", "open /dev/j -> fd0", "read fd0 3", "read fd0 1", "ioctl fd0 1 0")]
    executor.close()
    worker, fuzzer = ReplyState(), ReplyState()
    sent = []
    for reply in replies:
        data = encode_reply("ok", reply, worker)
        sent.append(data)
        assert decode_reply(data, fuzzer) == ("ok", reply)
    # insmod's reply names the module and its node; later ones, which change neither, do not
    assert replies[0].nodes and replies[0].loaded == ("j",)
    assert marshal.loads(sent[0][1:])[1:3] == (replies[0].nodes, ("j",))
    assert all(marshal.loads(data[1:])[1:3] == (None, None) for data in sent[1:4])
    assert encode_reply("ok", replies[4], ReplyState())[:1] == b"P"  # a finding: pickled
    assert decode_reply(encode_reply("error", "Traceback", worker), fuzzer) == ("error", "Traceback")
