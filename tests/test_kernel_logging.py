"""The kernel log: printk and friends, dev_ logs, and print() from module code."""

from kfuzz.kapi import platform_device_id
from kfuzz.prog import parse_program, run_program


def lines(lab):
    """dmesg without timestamps."""
    return [line.split("] ", 1)[1] for line in lab.kernel.log.dmesg()]


def test_printk_family_writes_dmesg_with_the_module_name(lab):
    lab.module("lg", """
        @module_init
        def lg_init():
            printk("one")
            pr_info("two")
            pr_warn("three")
            pr_err("four")
            pr_debug("five")
            return 0
    """)
    lab.boot()
    assert lab.insmod("lg") == 0
    assert lines(lab)[-5:] == ["lg: one", "lg: two", "lg: three", "lg: four", "lg: five"]


def test_dev_info_and_dev_err_name_the_driver_and_the_device(lab):
    lab.module("lg", """
        def lg_probe(dev, id):
            dev_info(dev, "bound")
            dev_err(dev, "but unhappy")
            return 0


        drv = Driver(name="lgdrv", bus="platform", id_table=[platform_device_id("lgdev")],
                     probe=lg_probe)


        @module_init
        def lg_init():
            return driver_register(drv)


        @module_exit
        def lg_exit():
            driver_unregister(drv)
    """)
    k = lab.boot()
    lab.insmod("lg")
    dev = k.do("plug", "platform", platform_device_id("lgdev"))
    assert lines(lab)[-2:] == [f"lgdrv {dev.name}: bound", f"lgdrv {dev.name}: but unhappy"]


def test_dmesg_timestamps_follow_the_clock(lab):
    k = lab.boot()
    k.do("tick", 150)
    k.do("irq", 3)
    assert lab.kernel.log.dmesg()[-1].startswith("[    1.500000] irq 3: nobody cared")


def test_print_in_module_code_lands_in_dmesg(lab, tmp_path, capsys):
    path = lab.module("pr", """
        @module_init
        def pr_init():
            print("hello from init")
            print("two", "words", end="!\\n")
            return 0


        @module_exit
        def pr_exit():
            print("bye")
    """)
    prog = parse_program(f"# modules: {path.name}\ninsmod pr\nrmmod pr\n", base_dir=tmp_path)
    outcome = run_program(prog)
    text = [line.split("] ", 1)[1] for line in outcome.dmesg]
    printed = ["hello from init", "two words!", "bye"]
    assert [t for t in text if t in printed] == printed, text
    assert capsys.readouterr().out == ""
