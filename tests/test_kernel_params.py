"""Module parameters parse as kernel/params.c sets them: kstrtoint(val, 0) and
kstrtobool of lib/kstrtox.c; what does not parse fails the load."""

import errno

import pytest

from kfuzz.kernel.params import ParamError, kstrtobool, kstrtoint

PARAMS = """
    n = module_param("n", int, 7)
    flag = module_param("flag", bool, False)


    @module_init
    def p_init():
        return 0


    @module_exit
    def p_exit():
        pass
"""


@pytest.mark.parametrize("text, value", [
    ("10", 10), ("0x10", 16), ("0X1f", 31), ("010", 8), ("0", 0), ("-5", -5), ("+7", 7),
    ("-0x10", -16), ("7\n", 7), ("2147483647", 2**31 - 1), ("-2147483648", -2**31),
    ("00", 0), ("0xABCDEF", 0xABCDEF),
])
def test_kstrtoint_base_0(text, value):
    assert kstrtoint(text) == value


@pytest.mark.parametrize("text", [
    "", "ten", "08", "0x", "0xg", " 5", "5 ", "1e3", "--1", "+-1", "-+1", "7\n\n", "\n",
    "1_000", "\u0661", "0b1", "5\t",
])
def test_kstrtoint_refuses_what_does_not_parse_with_einval(text):
    with pytest.raises(ParamError) as info:
        kstrtoint(text)
    assert info.value.err == -errno.EINVAL


@pytest.mark.parametrize("text", [
    "2147483648", "-2147483649", "0x80000000", "9223372036854775808",
    "18446744073709551616", "99999999999999999999x",  # the overflow is seen before the tail
])
def test_kstrtoint_refuses_what_is_out_of_range_with_erange(text):
    with pytest.raises(ParamError) as info:
        kstrtoint(text)
    assert info.value.err == -errno.ERANGE


@pytest.mark.parametrize("text, value", [
    ("y", True), ("Y", True), ("1", True), ("yes", True), ("on", True), ("ON", True),
    ("oN", True), ("10", True), ("n", False), ("N", False), ("0", False), ("no", False),
    ("off", False), ("OFF", False), ("y\n", True),
])
def test_kstrtobool_reads_the_first_characters(text, value):
    assert kstrtobool(text) is value


@pytest.mark.parametrize("text", ["", "true", "false", "o", "maybe", "2", " y", "\n"])
def test_kstrtobool_refuses_anything_else(text):
    with pytest.raises(ParamError) as info:
        kstrtobool(text)
    assert info.value.err == -errno.EINVAL


@pytest.mark.parametrize("params, values", [
    ({"n": "0x20", "flag": "on"}, (32, True)),
    ({"n": "017", "flag": "Y"}, (15, True)),
    ({"n": "-1\n", "flag": "off"}, (-1, False)),
])
def test_insmod_sets_params_as_linux_parses_them(lab, params, values):
    lab.module("p", PARAMS)
    k = lab.boot()
    assert k.do("insmod", "p", params) == 0
    assert (lab.ns("p")["n"], lab.ns("p")["flag"]) == values


@pytest.mark.parametrize("key, value, err", [
    ("n", "09", errno.EINVAL), ("n", "0x", errno.EINVAL), ("n", "2147483648", errno.ERANGE),
    ("n", "-0x80000001", errno.ERANGE), ("flag", "true", errno.EINVAL),
])
def test_a_param_that_does_not_parse_fails_the_load(lab, key, value, err):
    lab.module("p", PARAMS)
    k = lab.boot()
    assert k.do("insmod", "p", {key: value}) == -err
    assert f"p: `{value}' invalid for parameter `{key}'" in lab.dmesg()  # parse_args
    assert k.loader.modules == {} and k.findings == []
