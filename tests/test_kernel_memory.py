"""Memory: kmalloc'd buffers, KASAN's checks and kmemleak's report."""

import pytest

# A device whose ioctl runs one step of a test on a buffer kept between operations.
BUF_DEVICE = """
    buf = None
    seen = []


    def mem_ioctl(file, cmd, arg):
        global buf
        {0}
        return 0
"""


def mem(lab, body):
    """Boots a kernel with the module `mem`, loaded; `lab.ioctl("mem", cmd)` drives it."""
    code = "\n        ".join(body.strip("\n").splitlines())
    lab.device("mem", BUF_DEVICE.format(code))
    k = lab.boot()
    assert lab.insmod("mem") == 0, lab.dmesg()
    return k


def test_kmalloc_kzalloc_and_kfree(lab):
    k = mem(lab, """
if cmd == 1:
    buf = kmalloc(4)
    seen.append(isinstance(buf, Buffer) and len(buf) == 4)
    z = kzalloc(3, GFP_ATOMIC)
    seen.append(bytes(z))
    kfree(z)
    kfree(None)
if cmd == 2:
    kfree(buf)
""")
    lab.ioctl("mem", 1)
    assert lab.ns("mem")["seen"] == [True, b"\0\0\0"]
    assert len(k.mm.live) == 1
    lab.ioctl("mem", 2)
    assert k.mm.live == {} and k.findings == []


def test_buffer_bytes_slices_and_fields(lab):
    mem(lab, """
buf = kzalloc(8)
buf[0] = 0x41
buf[1:4] = b"bcd"
buf[6:8] = bytearray(b"yz")
buf.count = 3
buf.name = "x"
seen.extend([buf[0], buf[0:4], buf[4:6], buf[6:], bytes(buf), list(buf)[:2], len(buf)])
buf.count += 1
seen.append(buf.count)
del buf.name
seen.append(buf.name)
buf[0:8] = b"ab"
seen.append(bytes(buf))
kfree(buf)
""")
    lab.ioctl("mem")
    assert lab.ns("mem")["seen"] == [
        0x41, b"Abcd", b"\0\0", b"yz", b"Abcd\0\0yz", [0x41, 0x62], 8, 4, 0,
        b"abcd\0\0yz",
    ], "a short write into a slice copies what it has and keeps the size"
    assert lab.kernel.findings == []


@pytest.mark.parametrize("access, what", [
    ("buf[4]", "byte 4 of 4"),
    ("buf[-1]", "byte -1 of 4"),
    ("buf[2:6]", "bytes 2..6 of 4"),
    ("buf[-2:]", "bytes -2..4 of 4"),
    ("buf[4] = 1", "byte 4 of 4"),
    ("buf[2:4] = b'xyz'", "bytes 2..5 of 4"),
    ("buf[3:] = b'ab'", "bytes 3..5 of 4"),
])
def test_out_of_bounds_access_is_reported_and_never_truncated_or_grown(lab, access, what):
    mem(lab, f"""
buf = kmalloc(4)
{access}
seen.append("went on")
""")
    lab.ioctl("mem")
    f = lab.finding()
    assert (f.kind, f.title) == ("out-of-bounds", "KASAN: slab-out-of-bounds in mem_ioctl")
    assert f"{what} of a 4-byte buffer" in f.message
    assert lab.ns("mem")["seen"] == [], "the access stops the module code"
    assert len(lab.ns("mem")["buf"]) == 4
    assert "buf = kmalloc(4)" in f.alloc_site[0] and f.free_site == []
    assert "KASAN: slab-out-of-bounds in mem_ioctl" in lab.dmesg()


@pytest.mark.parametrize("access", ["buf[0]", "buf[0:2]", "buf[1] = 7", "buf.count", "buf.count = 1",
                                    "len(buf)", "bytes(buf)"])
def test_any_access_after_kfree_is_use_after_free(lab, access):
    mem(lab, f"""
if cmd == 1:
    buf = kmalloc(4)
    buf.count = 0
if cmd == 2:
    kfree(buf)
if cmd == 3:
    {access}
""")
    for cmd in (1, 2, 3):
        lab.ioctl("mem", cmd)
    f = lab.finding()
    assert (f.kind, f.title) == ("use-after-free", "KASAN: use-after-free in mem_ioctl")
    assert "buf = kmalloc(4)" in f.alloc_site[0], f.alloc_site
    assert "kfree(buf)" in f.free_site[0], f.free_site


def test_second_kfree_is_double_free_with_both_sites(lab):
    lab.module("df", """
        def df_alloc():
            return kmalloc(16)


        def df_release(buf):
            kfree(buf)


        @module_init
        def df_init():
            buf = df_alloc()
            df_release(buf)
            kfree(buf)
            return 0
    """)
    k = lab.boot()
    k.do("insmod", "df", {})
    f = lab.finding()
    assert (f.kind, f.title, f.module, f.function) == (
        "double-free", "KASAN: double-free in df_init", "df", "df_init")
    assert "in df_alloc" in f.alloc_site[-1] and "in df_release" in f.free_site[-1]
    assert "Allocated by:" in lab.dmesg() and "Freed by:" in lab.dmesg()


def test_kfree_of_something_kmalloc_did_not_return_is_invalid_free(lab):
    lab.module("bad", """
        @module_init
        def bad_init():
            kfree(b"not a buffer")
            return 0
    """)
    lab.boot().do("insmod", "bad", {})
    assert lab.findings() == [("double-free", "KASAN: invalid-free in bad_init")]


def test_kfree_of_null_is_nothing_whether_none_or_a_zeroed_field(lab):
    """mm/slub.c kfree returns for ZERO_OR_NULL_PTR: a port's error path frees a
    pointer field of kzalloc'd memory it never set, which reads as 0 (was invalid-free)."""
    lab.module("nul", """
        @module_init
        def nul_init():
            st = kzalloc(16)
            kfree(st.buf)
            kfree(None)
            kfree(0)
            kfree(st)
            return 0
    """)
    lab.boot().do("insmod", "nul", {})
    assert lab.findings() == []


def test_buffer_held_at_unload_is_a_leak_with_its_allocation_site(lab):
    lab.device("mem", """
        kept = []


        def mem_new(n):
            kept.append(kmalloc(n))


        def mem_ioctl(file, cmd, arg):
            mem_new(arg)
            return 0
    """)
    k = lab.boot()
    assert lab.insmod("mem") == 0
    lab.ioctl("mem", 0, 24)
    k.do("close", lab.files["mem"])
    k.do("rmmod", "mem")
    f = lab.finding()
    assert (f.kind, f.title, f.module, f.function) == (
        "memory-leak", "memory leak in mem_new", "mem", "mem_new")
    assert f.message == "unreferenced object of size 24 (module mem)"
    assert "kept.append(kmalloc(n))" in f.alloc_site[-1]


def test_titles_name_the_function_a_comprehension_is_written_in(lab):
    lab.device("mem", """
        kept = []


        def mem_fill(n):
            kept.extend([kmalloc(8) for _ in range(n)])


        def mem_ioctl(file, cmd, arg):
            if cmd == 1:
                mem_fill(arg)
            if cmd == 2:
                return sum(kept[i][9] for i in range(len(kept)))
            return 0
    """)
    k = lab.boot()
    assert lab.insmod("mem") == 0
    lab.ioctl("mem", 2)
    assert lab.findings() == []
    lab.ioctl("mem", 1, 2)
    lab.ioctl("mem", 2)
    f = lab.finding()
    assert (f.kind, f.title) == ("out-of-bounds", "KASAN: slab-out-of-bounds in mem_ioctl")
    assert "<genexpr>" in f.traceback[-1]  # the traceback still shows where it happened
    k.findings.clear()
    k.do("close", lab.files["mem"])
    k.do("rmmod", "mem")
    assert lab.findings()[0] == ("memory-leak", "memory leak in mem_fill"), lab.dmesg()


def test_buffer_freed_by_exit_is_no_leak(lab):
    lab.module("tidy", """
        buf = None


        @module_init
        def tidy_init():
            global buf
            buf = kzalloc(32)
            return 0


        @module_exit
        def tidy_exit():
            kfree(buf)
    """)
    k = lab.boot()
    assert lab.insmod("tidy") == 0 and k.do("rmmod", "tidy") == 0
    assert k.findings == []


SLEPT = [("atomic-sleep", "BUG: sleeping function called from invalid context in mem_ioctl")]


@pytest.mark.parametrize("flags, finding", [
    (", GFP_KERNEL", SLEPT), ("", SLEPT), (", GFP_ATOMIC", []), (", GFP_NOWAIT", []),
])
def test_gfp_kernel_may_sleep_and_gfp_atomic_may_not(lab, flags, finding):
    mem(lab, f"""
lock = spin_lock_init()
spin_lock(lock)
buf = kmalloc(8{flags})
spin_unlock(lock)
kfree(buf)
""")
    lab.ioctl("mem")
    assert lab.findings() == finding, lab.dmesg()


def test_a_buffer_tests_true_as_a_pointer_does(lab):
    mem(lab, """
if cmd == 1:
    empty = kmalloc(0)
    seen.append(bool(empty))
    kfree(empty)
    seen.append(bool(empty))  # testing a freed pointer touches no memory
""")
    lab.ioctl("mem", 1)
    assert lab.ns("mem")["seen"] == [True, True]
    assert lab.findings() == []


def test_zeroed_memory_reads_as_zero_field_by_field(lab):
    mem(lab, """
for buf in (kzalloc(8), kcalloc(2, 4), kmalloc(8, GFP_KERNEL | __GFP_ZERO)):
    buf.count += 1
    seen.append((buf.count, buf.next, 0 if not buf.next else 1))
    kfree(buf)
""")
    lab.ioctl("mem")
    assert lab.ns("mem")["seen"] == [(1, 0, 0)] * 3
    assert lab.findings() == []


def test_an_unset_field_of_kmalloc_memory_is_uninitialised_and_an_oops(lab):
    mem(lab, """
buf = kmalloc(8)
buf.count += 1
""")
    lab.ioctl("mem")
    f = lab.finding()
    assert (f.kind, f.title) == ("oops", "Oops: AttributeError in mem_ioctl")
    assert "field 'count' read before it was set: kmalloc memory is uninitialised" in f.message


@pytest.mark.parametrize("size", ["KMALLOC_MAX_SIZE + 1", "2 << 30", "-1", "1 << 70"])
@pytest.mark.parametrize("alloc", ["kmalloc", "kzalloc"])
def test_an_allocation_past_kmalloc_max_size_warns_and_returns_none(lab, alloc, size):
    mem(lab, f"""
seen.append({alloc}({size}))
""")
    lab.ioctl("mem")
    assert lab.ns("mem")["seen"] == [None], "the module goes on with NULL"
    f = lab.finding()
    assert (f.kind, f.title, f.function) == ("warning", "WARNING in __alloc_pages", "mem_ioctl")
    assert "is past KMALLOC_MAX_SIZE (4194304)" in f.message
    assert "W" in lab.kernel.taint_string()


def test_the_largest_kmalloc_succeeds_and_nowarn_or_an_overflowing_kcalloc_is_quiet(lab):
    mem(lab, """
big = kmalloc(KMALLOC_MAX_SIZE)
seen.append(len(big))
kfree(big)
seen.append(kmalloc(KMALLOC_MAX_SIZE + 1, GFP_KERNEL | __GFP_NOWARN))
seen.append(kcalloc(1 << 40, 1 << 40))
seen.append(kcalloc(-1, 8))
seen.append(kcalloc(-1, -1))
""")
    lab.ioctl("mem")
    assert lab.ns("mem")["seen"] == [4 << 20, None, None, None, None]
    assert lab.findings() == []


def test_a_huge_allocation_under_panic_on_warn_stops_the_operation(lab):
    lab.device("mem", """
        seen = []


        def mem_ioctl(file, cmd, arg):
            seen.append(kmalloc(2 << 30))
            return 0
    """)
    lab.boot(panic_on_warn=True)
    assert lab.insmod("mem") == 0
    lab.ioctl("mem")
    assert lab.findings() == [("warning", "WARNING in __alloc_pages")]
    assert lab.ns("mem")["seen"] == []
