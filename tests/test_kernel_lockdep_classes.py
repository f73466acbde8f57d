"""Lock classes: one per init site and module load, named as Linux names them, nested by subclass."""

import pytest

NEST = """
    class Dev:
        pass


    devs = []


    def nl_make():
        st = Dev()
        st.lock = spin_lock_init()
        st.mutex = mutex_init()
        devs.append(st)


    def nl_setup():
        nl_make()
        nl_make()
        return 0


    def nl_ioctl(file, cmd, arg):
        a, b = devs
        {body}
        return 0
"""


def nested(lab, body):
    lab.device("nl", NEST.format(body="\n        ".join(body.strip("\n").splitlines())))
    k = lab.boot()
    assert lab.insmod("nl") == 0, lab.dmesg()
    return k


@pytest.mark.parametrize("take, name", [("spin_lock({}.lock)", "&st->lock"),
                                        ("mutex_lock({}.mutex)", "&st->mutex")])
def test_two_locks_of_one_class_nested_without_a_subclass_is_recursive(lab, take, name):
    nested(lab, take.format("a") + "\n" + take.format("b"))
    lab.ioctl("nl")
    f = lab.finding()
    assert (f.kind, f.title) == ("lockdep", "possible recursive locking in nl_ioctl")
    assert f"  lock({name});\n  lock({name});\n" in f.message, f.message
    assert "May be due to missing lock nesting notation" in f.message


@pytest.mark.parametrize("body", [
    "spin_lock(a.lock)\nspin_lock_nested(b.lock, 1)\nspin_unlock(b.lock)\nspin_unlock(a.lock)",
    "flags = spin_lock_irqsave(a.lock)\ninner = spin_lock_irqsave_nested(b.lock, 1)\n"
    "spin_unlock_irqrestore(b.lock, inner)\nspin_unlock_irqrestore(a.lock, flags)",
    "mutex_lock(a.mutex)\nmutex_lock_nested(b.mutex, 1)\nmutex_unlock(b.mutex)\nmutex_unlock(a.mutex)",
    "mutex_lock_nested(a.mutex, 0)\nmutex_lock_nested(b.mutex, 1)\nspin_lock_nested(a.lock, 2)\n"
    "spin_unlock(a.lock)\nmutex_unlock(b.mutex)\nmutex_unlock(a.mutex)",
])
def test_locks_of_one_class_nested_with_subclasses_are_clean(lab, body):
    k = nested(lab, body)
    lab.ioctl("nl")
    lab.ioctl("nl")
    assert k.findings == [], lab.dmesg()


def test_subclasses_are_classes_of_their_own_with_an_order(lab):
    k = nested(lab, """
first, second = (a, b) if cmd == 1 else (b, a)
mutex_lock_nested(first.mutex, 1 if cmd == 1 else 0)
mutex_lock_nested(second.mutex, 0 if cmd == 1 else 1)
mutex_unlock(second.mutex)
mutex_unlock(first.mutex)
""")
    lab.ioctl("nl", 1)
    assert k.findings == []
    lab.ioctl("nl", 2)
    f = lab.finding()
    assert f.title == "possible circular locking dependency in nl_ioctl"
    assert "is trying to acquire lock:\n(&st->mutex/1){+.+.}-{4:4}" in f.message, f.message


def test_an_invalid_subclass_is_lockdeps_bug(lab):
    nested(lab, "spin_lock_nested(a.lock, 8)")
    lab.ioctl("nl")
    assert lab.findings() == [("lockdep", "BUG: looking up invalid subclass in nl_ioctl")]


# -- names --------------------------------------------------------------------------------------
def test_a_class_is_named_after_where_the_module_keeps_the_lock(lab):
    lab.module("nm", """
        class Dev:
            pass


        cfg_lock = mutex_init()
        locks = [spin_lock_init() for _ in range(2)]
        pair = spin_lock_init(), mutex_init()
        st = Dev()
        st.lock = spin_lock_init()
        got = {}


        def nm_other():
            st.lock = spin_lock_init()
            return spin_lock_init()


        @module_init
        def nm_init():
            lock = mutex_init()
            extra = []
            extra.append(mutex_init())
            got.update(cfg=cfg_lock, list=locks[1], pair0=pair[0], pair1=pair[1], field=st.lock,
                       local=lock, appended=extra[0], other=nm_other(), field2=st.lock)
            return 0
    """)
    k = lab.boot()
    assert lab.insmod("nm") == 0, lab.dmesg()
    got = lab.ns("nm")["got"]
    names = {what: k.locking.lock_class(lock, 0).name for what, lock in got.items()}
    unnamed = lab.paths[0].read_text().splitlines().index("    return spin_lock_init()") + 1
    assert names == {"cfg": "cfg_lock", "list": "&locks[i]", "pair0": "&pair[i]", "pair1": "&pair[i]#2",
                     "field": "&st->lock", "local": "&lock", "appended": "&extra[i]",
                     "other": f"nm.py:{unnamed}", "field2": "&st->lock#2"}
    assert repr(got["cfg"]) == "<mutex cfg_lock>"
    locks = lab.ns("nm")["locks"]
    assert locks[0].key is locks[1].key and got["pair0"].key is not got["pair1"].key


def test_locks_made_at_one_site_share_a_class_and_other_sites_do_not(lab):
    k = nested(lab, "pass")
    a, b = lab.ns("nl")["devs"]
    assert a.lock.key is b.lock.key and a.mutex.key is b.mutex.key
    assert a.lock.key is not a.mutex.key
    assert k.locking.lock_class(a.lock, 1).name == "&st->lock/1"


# -- classes die with their module ------------------------------------------------------------
ORDER = """
    a = mutex_init()
    b = mutex_init()


    def ro_ioctl(file, cmd, arg):
        first, second = (a, b) if cmd == 1 else (b, a)
        mutex_lock(first)
        mutex_lock(second)
        mutex_unlock(second)
        mutex_unlock(first)
        return 0
"""


def test_an_order_seen_in_an_earlier_load_is_not_held_against_the_next(lab):
    lab.device("ro", ORDER)
    lab.device("keep", "k = mutex_init()\n")
    k = lab.boot()
    assert lab.insmod("keep") == 0 and lab.insmod("ro") == 0
    lab.ioctl("ro", 1)
    k.do("close", lab.files.pop("ro"))
    assert lab.kernel.do("rmmod", "ro") == 0
    # the module's keys are gone; the kernel's own (the system workqueue's map) stay
    assert {key.module for key in k.locking.keys.values()} == {"keep", None}
    assert lab.insmod("ro") == 0
    lab.ioctl("ro", 2)
    assert k.findings == [], lab.dmesg()
    assert [key.name for key in k.locking.keys.values() if key.module == "ro"] == ["a", "b"]


def test_the_same_orders_in_one_load_are_a_cycle(lab):
    lab.device("ro", ORDER)
    lab.boot()
    lab.insmod("ro")
    lab.ioctl("ro", 1)
    lab.ioctl("ro", 2)
    f = lab.finding()
    assert f.title == "possible circular locking dependency in ro_ioctl"
    assert "-> #1 (b){+.+.}-{4:4}:\n  ro_ioctl ro.py:12\n\n-> #0 (a){+.+.}-{4:4}:\n  ro_ioctl ro.py:12\n" \
        in f.message, f.message
    assert "  lock(b);\n                               lock(a);\n" in f.message
