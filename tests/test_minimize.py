"""The minimizer: the smallest, plainest program that still fails with the same title."""

from __future__ import annotations

from kfuzz.fuzz.minimize import minimize
from kfuzz.prog import parse_program


def ops(text: str) -> list:
    return parse_program(text).ops


def lines(result: list) -> list[str]:
    return [op.format() for op in result]


def test_drops_what_the_bug_does_not_need_and_renumbers() -> None:
    prog = ops("insmod m\nopen /dev/a -> fd0\nread fd0 4\nopen /dev/m -> fd1\ntick 5\nioctl fd1 0x6801 0\n")

    def still_fails(cand: list) -> bool:
        text = lines(cand)
        return "insmod m" in text and any(t.startswith("ioctl") and "0x6801" in t for t in text)

    assert lines(minimize(prog, still_fails)) == ["insmod m", "open /dev/m -> fd0", "ioctl fd0 0x6801 0"]


def test_an_operation_goes_with_the_names_it_binds() -> None:
    prog = ops("insmod m\nopen /dev/m -> fd0\nread fd0 4\nclose fd0\n")
    assert lines(minimize(prog, lambda cand: "insmod m" in lines(cand))) == ["insmod m"]


def test_fault_injection_and_nobody_stay_only_when_needed() -> None:
    prog = ops("as nobody insmod m (fail_nth: 2)\nas nobody open /dev/m -> fd0 (fail_nth: 1)\n")

    def still_fails(cand: list) -> bool:
        return len(cand) == 2 and cand[0].fail_nth == 2

    assert lines(minimize(prog, still_fails)) == ["insmod m (fail_nth: 2)", "open /dev/m -> fd0"]


def test_numbers_become_zero_or_one_when_their_value_does_not_matter() -> None:
    prog = ops("insmod m\nopen /dev/m -> fd0\nioctl fd0 0x6801 4242\nread fd0 65536\ntick 500\n")

    def still_fails(cand: list) -> bool:
        read = [op for op in cand if op.verb == "read"]
        return len(cand) == 5 and read and int(read[0].args[1]) > 0

    assert lines(minimize(prog, still_fails)) == [
        "insmod m", "open /dev/m -> fd0", "ioctl fd0 0x6801 0", "read fd0 1", "tick 0"]


def test_data_is_cut_while_it_still_overflows() -> None:
    prog = ops('insmod m\nopen /dev/m -> fd0\nwrite fd0 "' + "A" * 300 + '"\n')

    def still_fails(cand: list) -> bool:
        writes = [op.args[1] for op in cand if op.verb == "write"]  # typed: bytes
        return len(cand) == 3 and bool(writes) and len(writes[0]) > 64

    data = minimize(prog, still_fails)[2].args[1]
    assert 64 < len(data) <= 128 and data == b"A" * len(data)


def test_dropping_an_operation_drops_what_depends_on_it_transitively() -> None:
    prog = ops("insmod m\nplug pci 8086:1234 -> dev0\nunbind dev0\nopen /dev/m -> fd0\nread fd0 1\n"
               "bind dev0\n")

    def still_fails(cand: list) -> bool:
        return "insmod m" in lines(cand) and any(op.verb == "read" for op in cand)

    assert lines(minimize(prog, still_fails)) == ["insmod m", "open /dev/m -> fd0", "read fd0 0"]


def test_renumbering_follows_each_resource_in_the_order_it_is_bound() -> None:
    prog = ops("plug pci 8086:1234 -> dev4\nopen /dev/m -> fd7\nopen /dev/n -> fd2\nirq dev4\n"
               "unbind dev4\nwrite fd2 \"x\"\nclose fd7\n")
    def still_fails(cand: list) -> bool:
        return len(cand) == 7 and cand[5].args[1] == b"x"

    assert lines(minimize(prog, still_fails)) == [
        "plug pci 8086:1234 -> dev0", "open /dev/m -> fd0", "open /dev/n -> fd1", "irq dev0",
        "unbind dev0", 'write fd1 "x"', "close fd0"]
