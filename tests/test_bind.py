"""`unbind devN` and `bind devN`: remove and devres on unbind, probe on bind, and their errors.

Each test is a `.kfz` program run in this process against `bd`, a PCI driver
whose probe devm-allocates its state and a devm IRQ and logs what runs.
"""

from kfuzz.prog import KernelSession, parse_program, program_index, run_program

BD = """
    MODULE_DEVICE_TABLE = [pci_device_id(0x8086, 0x1234)]

    bd_states = []    # every state probe made, freed or not: the tests look at them


    def bd_irq(irq, dev_id):
        dev_id.irqs += 1
        return IRQ_HANDLED


    def bd_probe(dev, id):
        pr_info(f"probe {dev.name}")
        st = devm_kzalloc(dev, 16)
        if st is None:
            return -ENOMEM
        st.irqs = 0
        ret = devm_request_irq(dev, dev.irq, bd_irq, IRQF_SHARED, "bd", st)
        if ret:
            return ret
        bd_states.append(st)
        dev_set_drvdata(dev, st)
        return 0


    def bd_remove(dev):
        pr_info(f"remove {dev.name} irqs={dev_get_drvdata(dev).irqs}")


    def bd_ioctl(file, cmd, arg):
        return bd_states[cmd].irqs


    fops = FileOperations(owner=THIS_MODULE, unlocked_ioctl=bd_ioctl)
    misc = MiscDevice(name="bd", fops=fops)
    drv = Driver(name="bd", bus="pci", id_table=MODULE_DEVICE_TABLE, probe=bd_probe, remove=bd_remove)


    @module_init
    def bd_init():
        ret = misc_register(misc)
        if ret:
            return ret
        ret = driver_register(drv)
        if ret:
            misc_deregister(misc)
        return ret


    @module_exit
    def bd_exit():
        driver_unregister(drv)
        misc_deregister(misc)
"""


def program(lab, tmp_path, body, header=""):
    lab.module("bd", BD)
    return parse_program(f"# modules: bd.py\n{header}{body}", base_dir=tmp_path)


def run(lab, tmp_path, body, header=""):
    return run_program(program(lab, tmp_path, body, header))


def results(outcome):
    return [r.result for r in outcome.results]


def bd_lines(outcome):
    """What bd logged, and the bus's own lines about the device."""
    texts = [line.split("] ", 1)[1] for line in outcome.dmesg]
    return [t for t in texts if t.startswith(("bd: ", "pci 0000:00:01.0: device removed"))
            and "verification" not in t]


def test_unbind_runs_remove_frees_devres_and_the_device_stays_plugged_to_bind_again(lab, tmp_path):
    prog = program(lab, tmp_path, """\
insmod bd
plug pci 8086:1234 -> dev0
irq dev0
unbind dev0
irq dev0
bind dev0
irq dev0
irq dev0
open /dev/bd -> fd0
ioctl fd0 1 0
""")
    session = KernelSession(program_index(prog))
    session.begin(prog.settings)
    replies = [session.step(op) for op in prog.ops]
    assert [r.result for r in replies] == [0, "dev0", 0, 0, 0, 0, 0, 0, "fd0", 2]
    kernel = session.kernel
    first, second = kernel.loader.modules["bd"].namespace["bd_states"]
    assert first._kb_free is not None, "unbind released the first binding's devm_kzalloc"
    assert first._kb_free[0].function.startswith("devres release of 0000:00:01.0")
    assert second._kb_free is None
    # one IRQ reached the first binding's handler, none while unbound, two the second's
    assert first._kb_fields["irqs"] == 1 and second.irqs == 2
    assert any("irq 16: nobody cared" in line for line in kernel.log.dmesg())
    dev = session.names["dev0"]
    assert dev.present and dev in kernel.bus.devices and dev.driver.name == "bd"
    assert session.end().finding is None, session.dmesg()
    texts = [line.split("] ", 1)[1] for line in session.dmesg()]
    assert [t for t in texts if t.startswith("bd: ") and "verification" not in t] == [
        "bd: probe 0000:00:01.0", "bd: remove 0000:00:01.0 irqs=1",
        "bd: probe 0000:00:01.0", "bd: remove 0000:00:01.0 irqs=2"]


def test_a_buffer_used_after_unbind_is_a_use_after_free_freed_by_devres(lab, tmp_path):
    out = run(lab, tmp_path, """\
insmod bd
plug pci 8086:1234 -> dev0
open /dev/bd -> fd0
ioctl fd0 0 0
unbind dev0
ioctl fd0 0 0
""")
    f = out.finding
    assert (f.kind, f.title) == ("use-after-free", "KASAN: use-after-free in bd_ioctl"), out.dmesg
    assert "devres release of 0000:00:01.0 (devm_kzalloc in bd_probe)" in f.free_site[0]


def test_bind_with_no_matching_driver_is_enodev(lab, tmp_path):
    out = run(lab, tmp_path, """\
plug pci 8086:1234 -> dev0
bind dev0
insmod bd
plug usb 8086:1234 -> dev1
bind dev1
""", header="# kernel: autoload=0\n")
    # a registered driver that does not match the device is no driver for it
    assert results(out) == ["dev0", "-ENODEV", 0, "dev1", "-ENODEV"]
    assert out.finding is None, out.dmesg


def test_unbind_of_an_unbound_device_is_enodev(lab, tmp_path):
    out = run(lab, tmp_path, """\
plug pci 8086:1234 -> dev0
unbind dev0
insmod bd
unbind dev0
unbind dev0
""", header="# kernel: autoload=0\n")
    assert results(out) == ["dev0", "-ENODEV", 0, 0, "-ENODEV"]
    assert bd_lines(out).count("bd: remove 0000:00:01.0 irqs=0") == 1
    assert out.finding is None, out.dmesg


def test_bind_of_a_bound_device_is_ebusy(lab, tmp_path):
    out = run(lab, tmp_path, """\
insmod bd
plug pci 8086:1234 -> dev0
bind dev0
""")
    assert results(out) == [0, "dev0", "-EBUSY"]
    assert bd_lines(out).count("bd: probe 0000:00:01.0") == 1
    assert out.finding is None, out.dmesg


def test_bind_and_unbind_as_nobody_are_eperm(lab, tmp_path):
    out = run(lab, tmp_path, """\
insmod bd
plug pci 8086:1234 -> dev0
as nobody unbind dev0
unbind dev0
as nobody bind dev0
bind dev0
""")
    assert results(out) == [0, "dev0", "-EPERM", 0, "-EPERM", 0]
    assert bd_lines(out)[:3] == ["bd: probe 0000:00:01.0", "bd: remove 0000:00:01.0 irqs=0",
                                 "bd: probe 0000:00:01.0"]
    assert out.finding is None, out.dmesg


def test_unplug_after_unbind_does_not_call_remove_twice(lab, tmp_path):
    out = run(lab, tmp_path, """\
insmod bd
plug pci 8086:1234 -> dev0
unbind dev0
unplug dev0
rmmod bd
""")
    assert results(out) == [0, "dev0", 0, 0, 0]
    assert bd_lines(out) == ["bd: probe 0000:00:01.0", "bd: remove 0000:00:01.0 irqs=0",
                             "pci 0000:00:01.0: device removed"]
    assert out.finding is None, out.dmesg


def test_rmmod_while_a_device_is_unbound_is_clean_and_a_reload_binds_it(lab, tmp_path):
    out = run(lab, tmp_path, """\
insmod bd
plug pci 8086:1234 -> dev0
unbind dev0
rmmod bd
bind dev0
insmod bd
bind dev0
""")
    # the reloaded driver's registration binds the device that was left unbound
    assert results(out) == [0, "dev0", 0, 0, "-ENODEV", 0, "-EBUSY"]
    assert bd_lines(out) == ["bd: probe 0000:00:01.0", "bd: remove 0000:00:01.0 irqs=0",
                             "bd: probe 0000:00:01.0", "bd: remove 0000:00:01.0 irqs=0",
                             "pci 0000:00:01.0: device removed"]
    assert out.finding is None, out.dmesg


def test_a_probe_that_fails_on_bind_releases_its_devres_and_leaves_the_device_unbound(lab, tmp_path):
    # the second fallible call of bd_probe is devm_request_irq: devm_kzalloc succeeded before it
    out = run(lab, tmp_path, """\
insmod bd
plug pci 8086:1234 -> dev0
unbind dev0
bind dev0 (fail_nth: 2)
unbind dev0
bind dev0
""")
    res = results(out)
    assert res[:3] == [0, "dev0", 0] and res[3].startswith("-E") and res[4:] == ["-ENODEV", 0]
    assert out.finding is None, out.dmesg
