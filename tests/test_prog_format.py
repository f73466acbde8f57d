"""The `.kfz` text form: parse and format round-trip; every bad line is refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kfuzz.kapi import O_RDWR, pci_device_id
from kfuzz.kernel.usbdesc import DEFAULT_ENDPOINTS
from kfuzz.prog import Op, ProgramError, Props, format_data, load_program, parse_program
from kfuzz.prog.parse import parse_data
from kfuzz.prog.values import Num, Ref

MODULE = """
    @module_init
    def m_init():
        return 0
"""

PROGRAM = """\
# kfuzz repro
# modules: m.py
# kernel: sig_enforce=0 autoload=1 panic_on_warn=1
# check: python-leak

modprobe m size=64 debug=y
insmod m2
plug pci 8086:1234 -> dev0
plug usb 046d:c52b -> dev1
plug platform leds-gpio -> dev2
as nobody open /dev/m -> fd0
open /proc/m_stats -> fd1 (fail_nth: 3)
# a comment between operations
write fd0 "hello, \\"ring\\"\\n"
write fd0 x'00ff10'
write fd0 ""
read fd0 16
ioctl fd0 0x5201 -1
ioctl fd0 21505 0x10 (fail_nth: 1)
irq dev0
irq 17
tick 100
suspend
sysctl kernel.panic_on_warn 1
as nobody sysctl kernel.modules_disabled 1
close fd0
unplug dev0
rmmod m2 -f
rmmod m
modprobe -r m
"""


@pytest.fixture
def where(lab, tmp_path):
    """A folder with m.py, where programs are parsed."""
    lab.module("m", MODULE)
    return tmp_path


def test_program_prints_back_exactly_as_written(where):
    prog = parse_program(PROGRAM, base_dir=where)
    assert prog.format() == PROGRAM
    assert parse_program(prog.format(), base_dir=where).format() == PROGRAM


def test_parsed_program_holds_its_header_and_operations(where):
    prog = parse_program(PROGRAM, base_dir=where)
    assert prog.modules == [where / "m.py"]
    assert prog.settings == {"sig_enforce": "0", "autoload": "1", "panic_on_warn": "1"}
    ops = prog.ops
    assert len(ops) == 24
    assert ops[5] == Op("open", ("/dev/m", O_RDWR), "fd0", Props(nobody=True)) and ops[5].lineno == 11
    assert ops[6] == Op("open", ("/proc/m_stats", O_RDWR), "fd1", Props(fail_nth=3)) and ops[6].lineno == 12
    # arguments are typed when the program is read, and remember how they were written
    assert ops[12].args == (Ref("fd0", "fd"), 21505, 16) and ops[12].fail_nth == 1
    assert [type(a) for a in ops[12].args[1:]] == [Num, Num] and ops[12].args[2].text == "0x10"
    assert ops[7].args == (Ref("fd0", "fd"), b'hello, "ring"\n')
    assert ops[0].args == ("m", (("size", "64"), ("debug", "y")))
    assert ops[2].args == (pci_device_id(0x8086, 0x1234), DEFAULT_ENDPOINTS)  # no endpoints word
    assert ops[13].args == (Ref("dev0", "dev"),) and ops[14].args == (17,)
    assert ops[17].args == (("kernel.panic_on_warn", "1"),)
    assert [op.verb for op in ops[-3:]] == ["rmmod", "rmmod", "modprobe -r"]
    assert ops[-3].args == ("m2", True) and ops[-1].args == ("m",)


def test_with_ops_keeps_the_header(where):
    prog = parse_program(PROGRAM, base_dir=where)
    smaller = prog.with_ops([prog.ops[0], prog.ops[-1]])
    assert smaller.format() == "\n".join(PROGRAM.splitlines()[:4] + ["modprobe m size=64 debug=y",
                                                                      "modprobe -r m"]) + "\n"


@pytest.mark.parametrize("text, data", [
    ('"hello"', b"hello"), ('"a b\\tc\\n"', b"a b\tc\n"), ('"q\\"uote"', b'q"uote'),
    ("x'00ff'", b"\x00\xff"), ("x''", b""), ('""', b""), ('"\\x00\\\\"', b"\x00\\"),
])
def test_data_is_a_quoted_string_or_hex(text, data):
    assert parse_data(text) == data


@given(st.binary(max_size=64))
def test_format_data_parses_back_to_the_same_bytes(data):
    assert parse_data(format_data(data)) == data


def test_format_data_prefers_a_readable_string():
    assert format_data(b"hello, ring") == '"hello, ring"'
    assert format_data(b"\x00\x01") == "x'0001'"
    assert format_data(b'say "hi"') == "x'7361792022686922'"


BAD_LINES = [
    ("frob fd0", "unknown operation 'frob'"),
    ("open /dev/m -> 0fd", "expected '-> name' at the end of the operation"),
    ("open /dev/m -> fd0 extra", "expected '-> name' at the end of the operation"),
    ("insmod m -> x", "'insmod' creates nothing to name with '->'"),
    ("read fd9 4", "'fd9' is not defined by an earlier '-> fd9'"),
    ("unplug dev3", "'dev3' is not defined by an earlier '-> dev3'"),
    ("irq dev3", "'dev3' is not defined by an earlier '-> dev3'"),
    ("bind dev3", "'dev3' is not defined by an earlier '-> dev3'"),
    ("read dev0 4", "'dev0' is a device (devN), and 'read' takes an open file (fdN)"),
    ("unbind fd0", "'fd0' is an open file (fdN), and 'unbind' takes a device (devN)"),
    ("irq fd0", "'fd0' is an open file (fdN), and 'irq' takes a device (devN)"),
    ("bind", "expected 'bind devN'"),
    ("unbind dev0 now", "expected 'unbind devN'"),
    ("insmod m (fail_nth: 0)", "fail_nth takes a positive integer, not '0'"),
    ("insmod m (fail_nth: -1)", "fail_nth takes a positive integer, not '-1'"),
    ("insmod m (fail_nth: two)", "fail_nth takes a positive integer, not 'two'"),
    ("open /dev/m (fail_nth: 1) -> fd0", "'(fail_nth: N)' must come last on the line"),
    ("write fd0 hello", "bad DATA hello: write a quoted string or x'hex'"),
    ("write fd0 x'zz'", "bad DATA x'zz': write a quoted string or x'hex'"),
    ('write fd0 "open', "unterminated string"),
    ("plug pci 8086-1234 -> dev9", "a pci device id is vvvv:dddd in hex, not '8086-1234'"),
    ("plug usb 46d:c52b -> dev9", "a usb device id is vvvv:dddd in hex, not '46d:c52b'"),
    ("plug scsi 0:0 -> dev9", "unknown bus 'scsi'"),
    ("sysctl kernel.frob 1", "unknown sysctl 'kernel.frob'"),
    ("sysctl kernel.panic_on_warn 2", "expected 'sysctl NAME VALUE'"),
    ("read fd0 -1", "expected 'read fdN COUNT'"),
    ("ioctl fd0 5", "expected 'ioctl fdN CMD ARG|DATA'"),
    ("ioctl fd0 five 0", "expected 'ioctl fdN CMD ARG|DATA'"),
    ("tick soon", "expected 'tick N'"),
    ("suspend now", "expected 'suspend'"),
    ("rmmod m --force", "expected 'rmmod NAME [-f]'"),
    ("insmod m size", "bad parameter 'size', parameters are key=value"),
    ("modprobe -r", "expected 'modprobe NAME [key=value ...] or modprobe -r NAME'"),
    ("as root insmod m", "expected 'as nobody OPERATION'"),
    ("as nobody", "expected an operation"),
]


@pytest.mark.parametrize("line, expected", BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_bad_line_is_refused_with_file_line_and_what_was_expected(where, line, expected):
    path = where / "bad.kfz"
    path.write_text(f"# modules: m.py\ninsmod m\nopen /dev/m -> fd0\nplug pci 8086:1234 -> dev0\n{line}\n")
    with pytest.raises(ProgramError) as info:
        load_program(path)
    err = info.value
    assert (err.where, err.lineno) == (str(path), 5)
    assert str(err).startswith(f"{path}:5: ")
    assert expected in err.message, err.message


@pytest.mark.parametrize("header, expected", [
    ("# kernel: frob=1", "bad kernel setting 'frob=1'"),
    ("# kernel: panic_on_warn", "bad kernel setting 'panic_on_warn'"),
    ("# kernel: sig_enforce=yes", "kernel setting sig_enforce is 0 or 1, not 'yes'"),
    ("# kernel: keyring=nokey.pub", "keyring file 'nokey.pub' not found"),
    ("# kernel: keyring=m.py", "keyring file 'm.py' is not an Ed25519 public key"),
    ("# modules: m.py nothere.py", "module file 'nothere.py' not found"),
    ("# check: everything", "unknown check 'everything'"),
])
def test_bad_header_is_refused(where, header, expected):
    with pytest.raises(ProgramError) as info:
        parse_program(f"# kfuzz repro\n{header}\ninsmod m\n", base_dir=where, where="repro.kfz")
    assert str(info.value).startswith("repro.kfz:2: ")
    assert expected in info.value.message


def test_nothing_runs_when_a_later_line_is_bad(lab, tmp_path):
    marker = tmp_path / "ran"
    lab.module("m", f"""
        @module_init
        def m_init():
            open({str(marker)!r}, "w").close()
            return 0
    """)
    path = tmp_path / "p.kfz"
    path.write_text("# modules: m.py\ninsmod m\nbogus\n")
    with pytest.raises(ProgramError, match=r"p\.kfz:3: unknown operation 'bogus'"):
        load_program(path)
    assert not marker.exists()


def test_module_paths_are_relative_to_the_repro_file(lab, tmp_path, monkeypatch):
    lab.module("m", MODULE)
    sub = tmp_path / "repros"
    sub.mkdir()
    (sub / "r.kfz").write_text("# modules: ../m.py\ninsmod m\n")
    monkeypatch.chdir("/")
    prog = load_program(sub / "r.kfz")
    assert [p.resolve() for p in prog.modules] == [tmp_path / "m.py"]
    assert prog.path == sub / "r.kfz"


def test_unreadable_program_file_is_a_program_error(tmp_path):
    with pytest.raises(ProgramError, match="missing.kfz: no such repro file; fix: check the path"):
        load_program(tmp_path / "missing.kfz")


def test_a_comment_after_an_operation_is_kept_and_printed_back():
    text = ('insmod m  # load it\nopen /dev/m -> fd0  # the node\nwrite fd0 "a # b"  # data may hold #\n'
            "ioctl fd0 0x10 0 (fail_nth: 2)  # faulty\n")
    prog = parse_program(text)
    assert prog.format() == text
    write, ioctl = prog.ops[2], prog.ops[3]
    assert write.args == (Ref("fd0", "fd"), b"a # b") and ioctl.fail_nth == 2
    assert prog.ops[1].bind == "fd0" and prog.ops[0].comment == "# load it"


def test_a_name_nothing_uses_may_be_left_out_and_is_printed_back_with_one_of_its_own():
    text = ("plug pci 8086:1234\nopen /dev/m\nopen /dev/n -> fd0\nread fd0 4\n"
            "plug usb 046d:c52b -> dev0\nopen /dev/o\nunplug dev0\n")
    prog = parse_program(text)
    assert [op.bind for op in prog.ops] == ["dev1", "fd1", "fd0", None, "dev0", "fd2", None]
    assert prog.format() == ("plug pci 8086:1234 -> dev1\nopen /dev/m -> fd1\nopen /dev/n -> fd0\n"
                             "read fd0 4\nplug usb 046d:c52b -> dev0\nopen /dev/o -> fd2\nunplug dev0\n")
    assert parse_program(prog.format()).ops == prog.ops


def test_bind_and_unbind_take_a_device():
    prog = parse_program("plug pci 8086:1234 -> dev0\nunbind dev0\nbind dev0 (fail_nth: 2)\n"
                         "as nobody unbind dev0\n")
    assert [op.verb for op in prog.ops] == ["plug", "unbind", "bind", "unbind"]
    assert prog.ops[2].args == (Ref("dev0", "dev"),) and prog.ops[2].fail_nth == 2
    assert prog.ops[3].nobody
    assert prog.format() == "plug pci 8086:1234 -> dev0\nunbind dev0\nbind dev0 (fail_nth: 2)\n" \
                            "as nobody unbind dev0\n"
