"""refcount_t, kref and module references."""

import errno

import pytest

from kfuzz.kernel.refcount import REFCOUNT_SATURATED

REFS = """
    got = []
    r = refcount_t(1)
    k = kref_init()
    released = []


    def rc_free(kref):
        released.append(kref)


    def rc_ioctl(file, cmd, arg):
        {body}
        return 0
"""


def refs(lab, body):
    code = "\n        ".join(body.strip("\n").splitlines())
    lab.device("rc", REFS.format(body=code))
    k = lab.boot()
    assert lab.insmod("rc") == 0, lab.dmesg()
    return k


@pytest.mark.parametrize("get", ["got.append(try_module_get(THIS_MODULE))", "__module_get(THIS_MODULE)"])
def test_module_reference_keeps_the_module_loaded(lab, get):
    k = refs(lab, f"""
if cmd == 1:
    {get}
if cmd == 2:
    module_put(THIS_MODULE)
""")
    lab.ioctl("rc", 1)
    k.do("close", lab.files.pop("rc"))
    assert lab.lsmod()[0].split()[2] == "1", lab.lsmod()
    assert k.do("rmmod", "rc") == -errno.EBUSY
    lab.ioctl("rc", 2)
    k.do("close", lab.files.pop("rc"))
    assert k.do("rmmod", "rc") == 0
    assert k.findings == []


def test_try_module_get_fails_on_a_module_going_away(lab):
    lab.module("rc", """
        got = []


        @module_init
        def rc_init():
            return 0


        @module_exit
        def rc_exit():
            got.append(try_module_get(THIS_MODULE))
    """)
    k = lab.boot()
    lab.insmod("rc")
    got = lab.ns("rc")["got"]
    assert k.do("rmmod", "rc") == 0
    assert got == [False]


def test_module_put_without_a_reference_is_an_underflow(lab):
    refs(lab, "module_put(THIS_MODULE)\nmodule_put(THIS_MODULE)")
    lab.ioctl("rc")
    assert lab.findings() == [("refcount", "module rc: refcount underflow in rc_ioctl")]


def test_refcount_counts(lab):
    k = refs(lab, """
refcount_inc(r)
got.append(refcount_read(r))
got.append(refcount_dec_and_test(r))
got.append(refcount_dec_and_test(r))
got.append(refcount_read(r))
""")
    lab.ioctl("rc")
    assert lab.ns("rc")["got"] == [2, False, True, 0]
    assert k.findings == []


@pytest.mark.parametrize("body, title", [
    ("refcount_dec_and_test(r)\nrefcount_dec_and_test(r)", "refcount_t: underflow in rc_ioctl"),
    ("refcount_dec_and_test(r)\nrefcount_inc(r)", "refcount_t: addition on 0 in rc_ioctl"),
    ("kref_put(k, rc_free)\nkref_get(k)", "refcount_t: addition on 0 in rc_ioctl"),
    ("kref_put(k, rc_free)\nkref_put(k, rc_free)", "refcount_t: underflow in rc_ioctl"),
])
def test_refcount_underflow_and_increment_from_zero_are_bugs(lab, body, title):
    refs(lab, body)
    lab.ioctl("rc")
    assert lab.findings() == [("refcount", title)]
    # lib/refcount.c refcount_warn_saturate: the counter saturates, it never wraps
    assert lab.ns("rc")["r"].refs in (1, REFCOUNT_SATURATED)


def test_kref_release_runs_once_at_zero(lab):
    k = refs(lab, """
kref_get(k)
got.append(kref_read(k))
got.append(kref_put(k, rc_free))
got.append(len(released))
got.append(kref_put(k, rc_free))
""")
    lab.ioctl("rc")
    ns = lab.ns("rc")
    assert ns["got"] == [2, False, 0, True]
    assert ns["released"] == [ns["k"]]
    assert k.findings == []


@pytest.mark.parametrize("body", ["refcount_inc(r)", "got.append(refcount_inc_not_zero(r))"])
def test_incrementing_past_int_max_saturates_and_warns(lab, body):
    """lib/refcount.c refcount_warn_saturate: REFCOUNT_ADD_OVF, and ADD_NOT_ZERO_OVF."""
    k = refs(lab, f"refcount_set(r, 0x7FFFFFFF)\n{body}")
    lab.ioctl("rc")
    assert lab.findings() == [("refcount", "refcount_t: saturated in rc_ioctl")]
    assert "refcount_t: saturated; leaking memory." in k.findings[0].message
    assert lab.ns("rc")["r"].refs == REFCOUNT_SATURATED and "W" in k.taints


def test_a_count_below_int_max_goes_on_counting(lab):
    k = refs(lab, "refcount_set(r, 0x7FFFFFFE)\nrefcount_inc(r)\ngot.append(refcount_read(r))")
    lab.ioctl("rc")
    assert lab.ns("rc")["got"] == [0x7FFFFFFF] and k.findings == []


def test_refcount_dec_to_zero_or_below_is_decrement_hit_0(lab):
    """__refcount_dec: old <= 1 is REFCOUNT_DEC_LEAK, even from 0."""
    refs(lab, "refcount_set(r, 0)\nrefcount_dec(r)")
    lab.ioctl("rc")
    assert lab.findings() == [("refcount", "refcount_t: decrement hit 0 in rc_ioctl")]
