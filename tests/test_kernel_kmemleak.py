"""kmemleak: a buffer is a leak when its last reference goes and it was never freed.

The report comes at the end of the operation that dropped the reference: an ioctl's
local, a global overwritten, a module's globals at rmmod or a failed init, a cycle of
buffers that only refer to each other. What another module, an open file or a device
keeps is no leak while it is kept.
"""

import weakref

from kfuzz.kapi import platform_device_id

LEAK = "memory-leak"


def leaks(lab):
    return [title for kind, title in lab.findings() if kind == LEAK]


def test_a_local_dropped_unfreed_is_reported_at_the_end_of_the_operation(lab):
    lab.device("mem", """
        def mem_scratch(n):
            return kmalloc(n)


        def mem_ioctl(file, cmd, arg):
            buf = mem_scratch(arg)
            buf[0] = 1
            if cmd == 1:
                kfree(buf)
            return 7
    """)
    k = lab.boot()
    assert lab.insmod("mem") == 0
    assert lab.ioctl("mem", 1, 16) == 7 and k.findings == []
    assert lab.ioctl("mem", 2, 16) == 7, "a leak does not stop the operation"
    f = lab.finding()
    assert (f.kind, f.title, f.module, f.function) == (LEAK, "memory leak in mem_scratch", "mem",
                                                       "mem_scratch")
    assert f.message == "unreferenced object of size 16 (module mem)"
    assert "return kmalloc(n)" in f.alloc_site[-1]
    assert k.mm.live == {}


def test_an_overwritten_global_is_a_leak_found_at_once_and_rmmod_has_nothing_more(lab):
    lab.device("mem", """
        last = None


        def mem_ioctl(file, cmd, arg):
            global last
            last = kzalloc(8)
            return 0


        def mem_exit_free():
            kfree(last)
    """)
    k = lab.boot()
    assert lab.insmod("mem") == 0
    lab.ioctl("mem")
    assert k.findings == []
    lab.ioctl("mem")
    assert leaks(lab) == ["memory leak in mem_ioctl"]
    k.findings.clear()
    k.do("close", lab.files["mem"])
    assert k.do("rmmod", "mem") == 0
    assert leaks(lab) == ["memory leak in mem_ioctl"], "the global kept at rmmod is the second leak"


def test_a_leak_in_a_permanent_module_is_found_at_its_init(lab):
    lab.module("perm", """
        count = 0


        @module_init
        def perm_init():
            global count
            scratch = kzalloc(64)
            count = len(scratch)
            return 0
    """)
    k = lab.boot()
    assert k.do("insmod", "perm", {}) == 0
    assert leaks(lab) == ["memory leak in perm_init"]
    assert "[permanent]" in lab.lsmod()[0]


def test_a_cycle_of_dropped_buffers_is_found_at_the_end_of_the_operation(lab):
    lab.device("mem", """
        ring = None


        def mem_ioctl(file, cmd, arg):
            global ring
            if cmd == 1:
                a = kzalloc(8)
                b = kzalloc(8)
                a.next, b.next = b, a
                ring = a
            if cmd == 2:
                ring = None
            if cmd == 3:
                c = kzalloc(8)
                c.me = [c]
            return 0
    """)
    k = lab.boot()
    assert lab.insmod("mem") == 0
    lab.ioctl("mem", 1)
    lab.ioctl("mem", 0)
    assert k.findings == [], "the ring is held by a global"
    assert k.mm.kmemleak.collections == 0, "a held ring costs no collection"
    lab.ioctl("mem", 2)
    assert leaks(lab) == ["memory leak in mem_ioctl"] * 2
    assert k.mm.kmemleak.collections == 1
    k.findings.clear()
    lab.ioctl("mem", 3)
    assert leaks(lab) == ["memory leak in mem_ioctl"], "a buffer in a cycle through a list"


def test_a_cycle_collected_during_the_operation_is_reported_once_at_its_end(lab):
    lab.device("mem", """
        import gc


        def mem_ioctl(file, cmd, arg):
            a = kzalloc(8)
            a.me = a
            a = None
            gc.collect()  # the collector runs at any allocation: here, mid-operation
            pr_info("after the collection")
            return 0
    """)
    k = lab.boot()
    assert lab.insmod("mem") == 0
    lab.ioctl("mem")
    assert leaks(lab) == ["memory leak in mem_ioctl"]
    log = lab.dmesg()
    assert log.index("after the collection") < log.index("memory leak in mem_ioctl")
    assert k.mm.live == {}


def test_a_buffer_kept_by_a_library_is_no_leak_until_the_library_goes(lab):
    lab.module("lib", """
        kept = []


        def lib_keep(buf):
            kept.append(buf)


        EXPORT_SYMBOL(lib_keep)


        @module_init
        def lib_init():
            return 0


        @module_exit
        def lib_exit():
            pass
    """)
    lab.module("user", """
        lib_keep = import_symbol("lib_keep")


        @module_init
        def user_init():
            lib_keep(kmalloc(32))
            return 0


        @module_exit
        def user_exit():
            pass
    """)
    k = lab.boot()
    assert k.do("modprobe", "lib", {}) == 0 and k.do("insmod", "user", {}) == 0
    assert k.do("rmmod", "user") == 0
    assert k.findings == [], "the library keeps it"
    assert k.do("rmmod", "lib") == 0
    f = lab.finding()
    assert (f.kind, f.title, f.module) == (LEAK, "memory leak in user_init", "user")
    assert f.message == "unreferenced object of size 32 (module user), last held by module lib"


def test_per_open_state_freed_by_release_is_no_leak_and_forgotten_is_one(lab):
    lab.module("pstate", """
        def pstate_open(inode, file):
            file.private_data = kzalloc(16)
            return 0


        def pstate_read(file, count):
            file.private_data.reads += 1
            return b"x"


        def pstate_release(inode, file):
            if file.f_flags == O_RDWR:  # as opened; the test sets other flags to forget
                kfree(file.private_data)
            return 0


        pstate_fops = FileOperations(owner=THIS_MODULE, open=pstate_open, read=pstate_read,
                                     release=pstate_release)


        @module_init
        def pstate_init():
            return 0 if proc_create("pstate", 0o444, pstate_fops) else -ENOMEM


        @module_exit
        def pstate_exit():
            remove_proc_entry("pstate")
    """)
    k = lab.boot()
    assert k.do("insmod", "pstate", {}) == 0
    f = k.do("open", "/proc/pstate")
    assert k.do("read", f, 1) == b"x" and k.do("close", f) == 0
    assert k.findings == [], "open's state, held by the file, freed by release"
    f = k.do("open", "/proc/pstate")
    f.f_flags = 1  # this release forgets it
    assert k.do("close", f) == 0
    assert leaks(lab) == ["memory leak in pstate_open"], "the struct file went, and its state with it"
    k.findings.clear()
    assert k.do("rmmod", "pstate") == 0 and k.findings == []


def test_devres_and_registrations_keep_their_buffers(lab):
    lab.module("dv", """
        MODULE_DEVICE_TABLE = [platform_device_id("dv")]


        def dv_irq(irq, dev_id):
            return IRQ_HANDLED


        def dv_probe(dev, id):
            devm_kzalloc(dev, 8)  # devres owns it
            return devm_request_irq(dev, dev.irq, dv_irq, IRQF_SHARED, "dv", kzalloc(4))


        dv_driver = Driver(name="dv", bus="platform", id_table=MODULE_DEVICE_TABLE, probe=dv_probe)


        @module_init
        def dv_init():
            return driver_register(dv_driver)


        @module_exit
        def dv_exit():
            driver_unregister(dv_driver)
    """)
    k = lab.boot()
    assert k.do("insmod", "dv", {}) == 0
    dev = k.do("plug", "platform", platform_device_id("dv"))
    assert k.findings == [], "the IRQ's dev_id and devres hold them"
    assert k.do("unplug", dev) == 0
    assert leaks(lab) == ["memory leak in dv_probe"], "the dev_id, once its IRQ is freed"


def test_the_kernels_records_hold_no_buffer(lab):
    lab.device("mem", """
        buf = None


        def mem_ioctl(file, cmd, arg):
            global buf
            if cmd == 1:
                buf = kmalloc(4)
                kfree(buf)
                buf[0] = 1
            return 0
    """)
    k = lab.boot()
    assert lab.insmod("mem") == 0
    lab.ioctl("mem", 1)
    assert lab.findings() == [("use-after-free", "KASAN: use-after-free in mem_ioctl")]
    ref = weakref.ref(lab.ns("mem")["buf"])
    lab.ns("mem")["buf"] = None
    assert ref() is None, "neither the allocation table nor the KASAN finding keeps it"
    assert k.mm.live == {}


def test_a_fatal_finding_drops_what_the_unwound_frames_held(lab):
    lab.device("mem", """
        def mem_ioctl(file, cmd, arg):
            if cmd == 1:
                scratch = kmalloc(8)
                return scratch.missing
            return 0
    """)
    k = lab.boot()
    assert lab.insmod("mem") == 0
    lab.ioctl("mem", 1)
    lab.ioctl("mem", 2)
    k.do("cleanup")
    assert [kind for kind, _ in lab.findings()] == ["oops"], "the oops, and no leak after it"


def test_a_buffer_held_only_by_a_cycle_of_python_objects_is_found_by_the_end(lab):
    lab.device("mem", """
        def mem_ioctl(file, cmd, arg):
            bag = [kzalloc(8)]
            bag.append(bag)  # the buffer holds nothing; the list holds itself
            return 0
    """)
    k = lab.boot()
    assert lab.insmod("mem") == 0
    lab.ioctl("mem")
    k.do("cleanup")
    assert leaks(lab) == ["memory leak in mem_ioctl"]
