"""Spinlocks, mutexes and lockdep's checks."""

import pytest

SLEPT = "BUG: sleeping function called from invalid context in lk_ioctl"

LOCKS = """
    a = mutex_init()
    b = mutex_init()
    s = spin_lock_init()
    got = []


    def lk_ioctl(file, cmd, arg):
        {body}
        return 0
"""


def locks(lab, body):
    """Loads `lk` whose ioctl runs `body` with mutexes a, b and spinlock s."""
    code = "\n        ".join(body.strip("\n").splitlines())
    lab.device("lk", LOCKS.format(body=code))
    k = lab.boot()
    assert lab.insmod("lk") == 0, lab.dmesg()
    return k


def test_balanced_locking_is_clean(lab):
    k = locks(lab, """
spin_lock(s)
got.append(spin_is_locked(s))
spin_unlock(s)
flags = spin_lock_irqsave(s)
spin_unlock_irqrestore(s, flags)
mutex_lock(a)
got.append(mutex_is_locked(a))
mutex_lock(b)
mutex_unlock(b)
mutex_unlock(a)
might_sleep()
msleep(10)
usleep_range(10, 20)
got.append(mutex_is_locked(a))
""")
    lab.ioctl("lk")
    lab.ioctl("lk")
    assert lab.ns("lk")["got"] == [True, True, False] * 2
    assert k.findings == [], lab.dmesg()


def test_mutex_trylock_says_whether_it_took_the_lock(lab):
    k = locks(lab, """
got.append(mutex_trylock(a))
got.append(mutex_trylock(a))
mutex_unlock(a)
""")
    lab.ioctl("lk")
    assert lab.ns("lk")["got"] == [True, False]
    assert k.findings == []


@pytest.mark.parametrize("body, where", [
    ("spin_lock(s)\nmsleep(1)", "spinlock held"),
    ("spin_lock(s)\nmight_sleep()", "spinlock held"),
    ("spin_lock(s)\nusleep_range(10, 20)", "spinlock held"),
    ("spin_lock(s)\nmutex_lock(a)", "spinlock held"),
    ("flags = spin_lock_irqsave(s)\nmsleep(1)", "spinlock held"),
    ("spin_lock(s)\ncancel_work_sync(INIT_WORK(lk_ioctl))", "spinlock held"),
])
def test_sleeping_under_a_spinlock_is_atomic_sleep(lab, body, where):
    locks(lab, body)
    lab.ioctl("lk")
    f = lab.finding()
    assert (f.kind, f.title) == ("atomic-sleep", SLEPT)
    assert f"({where})" in f.message


def test_sleeping_after_the_spinlock_is_released_is_fine(lab):
    k = locks(lab, """
flags = spin_lock_irqsave(s)
spin_unlock_irqrestore(s, flags)
spin_lock(s)
spin_unlock(s)
msleep(1)
""")
    lab.ioctl("lk")
    assert k.findings == []


@pytest.mark.parametrize("body, title", [
    ("spin_lock(s)\nspin_lock(s)", "possible recursive locking in lk_ioctl"),
    ("mutex_lock(a)\nmutex_lock(a)", "possible recursive locking in lk_ioctl"),
    ("mutex_unlock(a)", "WARNING: bad unlock balance in lk_ioctl"),
    ("spin_unlock(s)", "WARNING: bad unlock balance in lk_ioctl"),
    ("mutex_lock(a)", "WARNING: lock held when returning to user space in lk_ioctl"),
    ("spin_lock(s)", "WARNING: lock held when returning to user space in lk_ioctl"),
])
def test_lockdep_checks(lab, body, title):
    locks(lab, body)
    lab.ioctl("lk")
    assert lab.findings() == [("lockdep", title)], lab.dmesg()


def test_lock_held_on_return_blames_the_function_that_took_it(lab):
    lab.device("lk", """
        m = mutex_init()


        def lk_take():
            mutex_lock(m)


        def lk_ioctl(file, cmd, arg):
            lk_take()
            return 0
    """)
    lab.boot()
    lab.insmod("lk")
    lab.ioctl("lk")
    f = lab.finding()
    assert (f.kind, f.title, f.function) == (
        "lockdep", "WARNING: lock held when returning to user space in lk_take", "lk_take")


def test_lock_order_inversion_across_two_operations_is_a_cycle(lab):
    k = locks(lab, """
first, second = (a, b) if cmd == 1 else (b, a)
mutex_lock(first)
mutex_lock(second)
mutex_unlock(second)
mutex_unlock(first)
""")
    lab.ioctl("lk", 1)
    lab.ioctl("lk", 1)
    assert k.findings == []
    lab.ioctl("lk", 2)
    assert lab.findings() == [("lockdep", "possible circular locking dependency in lk_ioctl")]
