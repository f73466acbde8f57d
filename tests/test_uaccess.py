"""User memory: Linux-shaped read/write, the copy calls, ioctl buffers and numbers."""

from __future__ import annotations

from typing import Any

from kfuzz.prog import parse_program, run_program

CHAR = """
store = bytearray(16)


def ch_read(file, buf, count, ppos):
    return simple_read_from_buffer(buf, count, ppos, bytes(store), len(store))


def ch_write(file, buf, count, ppos):
    return simple_write_to_buffer(store, len(store), ppos, buf, count)


def ch_llseek(file, offset, whence):
    return fixed_size_llseek(file, offset, whence, len(store))


CH_GET = _IOR("c", 1, 8)
CH_SET = _IOW("c", 2, 8)
CH_INT = _IOW("c", 3, 4)


def ch_ioctl(file, cmd, arg):
    if cmd == CH_GET:
        return -EFAULT if copy_to_user(arg, bytes(store[:8]), 8) else 0
    if cmd == CH_SET:
        kbuf = kzalloc(8)
        if copy_from_user(kbuf, arg, 8):
            kfree(kbuf)
            return -EFAULT
        store[:8] = kbuf[0:8]
        kfree(kbuf)
        return 0
    if cmd == CH_INT:
        val = [0]
        if get_user(val, arg):
            return -EFAULT
        return put_user(val[0] + 1, arg)
    return -ENOTTY
"""


def run(lab: Any, name: str, body: str, ops: str):  # noqa: ANN201
    lab.device(name, body)
    prog = parse_program(f"# modules: {lab.paths[-1]}\ninsmod {name}\nopen /dev/{name} -> fd0\n{ops}",
                         base_dir=lab.root)
    return run_program(prog)


def results(outcome: Any) -> list[Any]:
    return [r.result for r in outcome.results[2:]]


def test_linux_shaped_read_write_and_llseek_move_the_position(lab: Any) -> None:
    outcome = run(lab, "ch", CHAR, 'write fd0 "hello"\nread fd0 4\nlseek fd0 0 SEEK_SET\nread fd0 4\n'
                  "read fd0 100\nlseek fd0 -2 SEEK_END\nread fd0 8\nlseek fd0 -1 SEEK_SET\n"
                  "lseek fd0 0 SEEK_DATA\n")
    assert outcome.finding is None, outcome.dmesg
    assert results(outcome) == [5, "x'00000000'", 0, '"hell"', "x'6f0000000000000000000000'", 14,
                                "x'0000'", "-EINVAL", "-EINVAL"]


def test_ioctl_copies_through_a_user_buffer_and_an_integer_pointer_faults(lab: Any) -> None:
    outcome = run(lab, "ch", CHAR, "ioctl fd0 0x40086302 \"abcdefgh\"\nioctl fd0 0x80086301 x'00'\n"
                  "ioctl fd0 0x80086301 x'0000000000000000'\nioctl fd0 0x40086302 1234\n"
                  "ioctl fd0 0x40046303 x'05000000'\nioctl fd0 0x40046303 x'0500'\n")
    assert outcome.finding is None, outcome.dmesg
    # a buffer shorter than the copy faults at its end, as at the end of a page
    assert results(outcome) == [0, "-EFAULT", 0, "-EFAULT", 0, "-EFAULT"]


def test_ioctl_numbers_pack_as_asm_generic_ioctl_h() -> None:
    from kfuzz.kapi import _IO, _IOC_DIR, _IOC_NR, _IOC_SIZE, _IOC_TYPE, _IOR, _IOW, _IOWR
    assert _IOR("c", 1, 8) == 0x80086301 and _IOW(ord("c"), 2, 8) == 0x40086302
    assert _IOWR("U", 7, 24) == 0xC0185507 and _IO("U", 3) == 0x5503
    cmd = _IOWR("U", 7, 24)
    assert (_IOC_DIR(cmd), _IOC_TYPE(cmd), _IOC_NR(cmd), _IOC_SIZE(cmd)) == (3, ord("U"), 7, 24)


OVER = """
def ov_read(file, buf, count, ppos):
    data = b"0123456789\\n"
    if copy_to_user(buf, data, len(data)):   # BUG: count never checked (yurex_read before the fix)
        return -EFAULT
    return len(data)


def ov_write(file, buf, count, ppos):
    kbuf = kzalloc(64)
    copy_from_user(kbuf, buf, count + 1)     # BUG: one past what the caller gave
    kfree(kbuf)
    return count
"""


def test_copying_past_a_reads_count_is_a_user_buffer_overflow(lab: Any) -> None:
    outcome = run(lab, "ov", OVER, "read fd0 64\nread fd0 4\n")
    f = outcome.finding
    assert f is not None and (f.kind, f.title) == ("out-of-bounds", "BUG: user-buffer-overflow in ov_read")
    assert "bytes 0..11 of the 4-byte read buffer" in f.message
    assert results(outcome)[0] == "x'303132333435363738390a'"


def test_reading_past_a_writes_count_is_a_user_buffer_overflow(lab: Any) -> None:
    outcome = run(lab, "ov", OVER, 'write fd0 "abc"\n')
    f = outcome.finding
    assert f is not None and (f.kind, f.title) == ("out-of-bounds", "BUG: user-buffer-overflow in ov_write")


LEAK = """
secret = None


def lk_setup():
    global secret
    secret = kzalloc(8)
    return 0


def lk_read(file, buf, count, ppos):
    n = min(count, 32)
    if copy_to_user(buf, secret, n):       # BUG: reads past the 8-byte object
        return -EFAULT
    return n
"""


def test_copy_to_user_past_a_kmalloc_object_is_slab_out_of_bounds(lab: Any) -> None:
    outcome = run(lab, "lk", LEAK, "read fd0 8\nread fd0 32\n")
    f = outcome.finding
    assert f is not None and (f.kind, f.title) == ("out-of-bounds", "KASAN: slab-out-of-bounds in lk_read")
    assert results(outcome)[0] == "x'0000000000000000'"


ATOMIC = """
lock = spin_lock_init()


def at_read(file, buf, count, ppos):
    spin_lock(lock)
    ret = copy_to_user(buf, b"x", 1)          # BUG: may fault, and sleep, under a spinlock
    spin_unlock(lock)
    return 1 - ret
"""


def test_a_copy_under_a_spinlock_is_sleeping_in_atomic_context(lab: Any) -> None:
    outcome = run(lab, "at", ATOMIC, "read fd0 1\n")
    f = outcome.finding
    assert f is not None and f.title == "BUG: sleeping function called from invalid context in at_read"
    assert "copy_to_user() may sleep" in f.message


def test_memdup_user_strncpy_and_err_ptr(lab: Any) -> None:
    body = """
def mu_ioctl(file, cmd, arg):
    if cmd == 1:
        p = memdup_user(arg, 4)
        if IS_ERR(p):
            return PTR_ERR(p)
        v = p[0]
        kfree(p)
        return v
    name = kzalloc(8)
    n = strncpy_from_user(name, arg, 8)
    kfree(name)
    return n
"""
    outcome = run(lab, "mu", body, "ioctl fd0 1 x'07000000'\nioctl fd0 1 x'07'\nioctl fd0 1 99\n"
                  'ioctl fd0 2 x\'61626300\'\nioctl fd0 2 "abcdefghij"\nioctl fd0 2 "ab"\n')
    assert outcome.finding is None, outcome.dmesg
    assert results(outcome) == [7, "-EFAULT", "-EFAULT", 3, 8, "-EFAULT"]


def test_kfuzz_first_shapes_still_work_beside_linux_ones(lab: Any) -> None:
    body = """
def old_read(file, count):
    return b"abc"[:count]


def old_write(file, data):
    return len(data)
"""
    outcome = run(lab, "old", body, 'read fd0 2\nwrite fd0 "xyz"\nlseek fd0 0 SEEK_SET\n')
    assert outcome.finding is None
    assert results(outcome) == ['"ab"', 3, "-ESPIPE"]  # no llseek: not seekable


DOUBLE = """
def df_ioctl(file, cmd, arg):
    hdr = kzalloc(4)
    if copy_from_user(hdr, arg, 4):
        kfree(hdr)
        return -EFAULT
    n = int.from_bytes(hdr[0:4], "little")
    kfree(hdr)
    if n > 8:
        return -EINVAL
    msg = kzalloc(12)
    if copy_from_user(msg, arg, 4 + n):     # the header fetched again: n was checked, this is not
        kfree(msg)
        return -EFAULT
    n = int.from_bytes(msg[0:4], "little")  # BUG: trusts the second fetch
    data = msg[4:4 + n]
    kfree(msg)
    return len(data)
"""


def test_a_double_fetch_is_found_when_another_thread_changes_the_buffer_between_the_reads(lab: Any) -> None:
    group = ("together\n  t1: ioctl fd0 1 x'0400000061626364'\n  t2: poke t1 x'40000000'\n")
    clean = run(lab, "df", DOUBLE, group)
    assert clean.finding is None, clean.dmesg
    assert clean.results[-1].result == [4, "-EFAULT"]  # the call had ended: nothing to write
    raced = run(lab, "df", DOUBLE, group + "schedule: t1 at copy_from_user#2 -> t2\n")
    f = raced.finding
    assert f is not None and (f.kind, f.title) == ("out-of-bounds", "KASAN: slab-out-of-bounds in df_ioctl")
    assert raced.results[-1].schedule == ("t1 at copy_from_user#2 -> t2",)
