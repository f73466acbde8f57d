"""The bundled target modules: each buggy module's repro finds exactly its
planted bug, and the correct modules stay clean under the example programs
and under fault injection on their load and their probe."""
from pathlib import Path

import pytest
from planted import PLANTED

from kfuzz.prog import load_program, parse_program, run_program
from kfuzz.replay import replay_path

TM = Path(__file__).resolve().parent.parent / "target_modules"
BUGGY = TM / "buggy"
EXAMPLES = TM / "examples"


# kinds only an isolated kernel can show: the repro runs in a worker process
ISOLATED = {"hang", "crash", "python-leak"}


def test_every_buggy_module_has_a_repro_and_an_expectation():
    modules = {p.stem for p in BUGGY.glob("*.py")}
    repros = {p.stem for p in BUGGY.glob("*.kfz")}
    assert modules == set(PLANTED)
    assert repros == set(PLANTED)


def test_module_names_are_unique_across_the_tree():
    names = [p.stem for p in TM.rglob("*.py")]
    assert len(names) == len(set(names)), sorted(names)


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_buggy_repro_finds_the_planted_bug(name):
    kind, title = PLANTED[name]
    if kind in ISOLATED:
        outcome = replay_path(BUGGY / f"{name}.kfz")
    else:
        outcome = run_program(load_program(BUGGY / f"{name}.kfz"))
    finding = outcome.finding
    assert finding is not None, "\n".join(outcome.dmesg)
    assert (finding.kind, finding.title) == (kind, title), "\n".join(outcome.dmesg)
    assert finding.module == name


# Each buggy module used without reaching its bug: no finding, so the planted
# bug is the only one. (timerleak cannot be unloaded cleanly at all, pyleak
# leaks into this very process: both left out.)
BENIGN = {
    "leakinit": "open /dev/leakinit -> fd0\nread fd0 6\nclose fd0",
    "leakexit": "open /dev/leakexit -> fd0\nread fd0 6\nclose fd0",
    "usbuaf": ("plug usb 04d8:f00d -> dev0\nopen /dev/usbuaf0 -> fd0\nread fd0 4\n"
               "close fd0\nunplug dev0"),
    "dblfree": "open /dev/dblfree -> fd0\nioctl fd0 0x1 0\nclose fd0",
    "oobwrite": 'open /dev/oobwrite -> fd0\nwrite fd0 "short"\nread fd0 64\nclose fd0',
    "noowner": "open /dev/noowner -> fd0\nread fd0 64\nclose fd0",
    "nullpriv": "open /dev/nullpriv -> fd0\nioctl fd0 0x6e01 5\nread fd0 8\nclose fd0",
    "irqsleep": "plug pci 1af4:10f7 -> dev0\nunplug dev0",
    "lockorder": "open /dev/lockorder -> fd0\nioctl fd0 0x6c01 8\nioctl fd0 0x6c01 16\nclose fd0",
    "modref": "open /dev/modref -> fd0\nioctl fd0 0x6d01 3\nioctl fd0 0x6d01 3\nclose fd0",
    "warnon": "open /dev/warnon -> fd0\nioctl fd0 0x7701 60\nread fd0 8\nclose fd0",
    "bugon": "open /dev/bugon -> fd0\nioctl fd0 0x6201 1\nioctl fd0 0x6201 1\nclose fd0",
    "hangioctl": "open /dev/hangioctl -> fd0\nioctl fd0 0x6802 0\nclose fd0",
    "crashioctl": "open /dev/crashioctl -> fd0\nioctl fd0 0x6302 0\nclose fd0",
    # a device plugged again is a new device: no second probe of the same one
    "rebinduaf": ("plug pci 10ee:7024 -> dev0\nirq dev0\nunplug dev0\n"
                  "plug pci 10ee:7024 -> dev1\nirq dev1\nsuspend\nunplug dev1"),
    "rebindleak": ("plug platform rebindleak -> dev0\nirq dev0\nunplug dev0\n"
                   "plug platform rebindleak -> dev1\nirq dev1\nsuspend\nunplug dev1"),
    # the lock in IRQ (softirq) context only, or only where IRQs (softirqs) are off
    "irqunsafe": "plug pci 1af4:10f8 -> dev0\nirq dev0\nirq dev0\nunplug dev0",
    "bhunsafe": "open /dev/bhunsafe -> fd0\nread fd0 64\ntick 10\nread fd0 64\ntick 10\nclose fd0",
    # never pinged: release waits for a ping that never took the lock
    "timersync": "open /dev/timersync -> fd0\nread fd0 16\nclose fd0",
    # the work ran before the SYNC: nothing is queued, and it never ran under the mutex
    "flushlock": 'open /dev/flushlock -> fd0\nwrite fd0 "x"\ntick 1\nread fd0 8\nclose fd0',
    "regspin": "plug pci 1af4:1000 -> dev0\nunplug dev0",
    # the devices have the endpoints their family needs
    "iowarprobe": ("plug usb 07c0:1500 ii4 -> dev0\nopen /dev/iowarrior0 -> fd0\nurb dev0 0x81 x'01020304'\n"
                   "read fd0 4\nclose fd0\nunplug dev0"),
    "addtimer": 'open /dev/addtimer -> fd0\nwrite fd0 "abc"\ntick 10\nwrite fd0 "def"\ntick 10\nclose fd0',
    # the idle timeout fired before the close: nothing armed is freed
    "timerfree": "open /dev/timerfree -> fd0\nread fd0 16\ntick 100\nclose fd0",
    # the races: the same operations as each repro's group, one after the other
    "discrel": ('plug usb 1d50:6001 -> dev0\nopen /dev/discrel0 -> fd0\nwrite fd0 "hi"\n'
                "read fd0 8\nclose fd0\nopen /dev/discrel0 -> fd1\nunplug dev0\nread fd1 8\nclose fd1"),
    "discwrite": ('plug usb 1d50:6003 -> dev0\nopen /dev/discwrite0 -> fd0\nwrite fd0 "I"\n'
                  'write fd0 "A"\nread fd0 8\nunplug dev0\nwrite fd0 "A"\nclose fd0'),
    "discread": ("plug usb 1d50:6005 -> dev0\nopen /dev/discread0 -> fd0\nread fd0 8\nunplug dev0\n"
                 "read fd0 8\nclose fd0"),
    "bufresize": ('open /dev/bufresize -> fd0\nwrite fd0 "abc"\nioctl fd0 0x7302 0\n'
                  "ioctl fd0 0x7301 128\nioctl fd0 0x7302 0\nioctl fd0 0x7301 8\nread fd0 64\nclose fd0"),
    "selfpin": "open /dev/selfpin -> fd0\nread fd0 8\nopen /dev/selfpin -> fd1\nclose fd0\nclose fd1",
    "deltimer": "plug pci 1b36:0110 -> dev0\ntick 10\nunplug dev0\nplug pci 1b36:0110 -> dev1\ntick 1",
    "waitlock": 'open /dev/waitlock -> fd0\nread fd0 64\nwrite fd0 "hello"\nread fd0 64\nclose fd0',
    "iowardisc": ("plug usb 07c0:1500 ii4 -> dev0\nopen /dev/iowarrior0 -> fd0\nclose fd0\n"
                  "open /dev/iowarrior0 -> fd1\nunplug dev0\nclose fd1"),
    "yurexdisc": ("plug usb 0c45:1010 ii8 -> dev0\nopen /dev/yurex0 -> fd0\nwrite fd0 \"A\"\n"
                  "urb dev0 0x81 x'43000000012c0dff'\nread fd0 64\nunplug dev0\nwrite fd0 \"A\"\n"
                  "read fd0 8\nclose fd0"),
    # every read's count holds the rest of the count's text
    "yurexread": ("plug usb 0c45:1010 ii8 -> dev0\nopen /dev/yurex0 -> fd0\nread fd0 3\n"
                  "urb dev0 0x81 x'43000000012c0dff'\nlseek fd0 0 SEEK_SET\nread fd0 64\nread fd0 1\n"
                  "close fd0\nunplug dev0"),
}


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_buggy_module_is_clean_away_from_its_bug(name):
    text = f"# modules: {name}.py\ninsmod {name}\n{BENIGN[name]}\nrmmod {name}\n"
    outcome = run_program(parse_program(text, base_dir=BUGGY))
    assert outcome.finding is None, (
        f"{outcome.finding.kind}: {outcome.finding.title}\n" + "\n".join(outcome.dmesg))
    assert not any("rmmod: ERROR" in line for line in outcome.dmesg), outcome.dmesg


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.kfz"))


def test_every_correct_module_has_an_example():
    correct = {p.stem for p in TM.glob("*.py")}
    text = "".join(p.read_text() for p in EXAMPLE_FILES)
    for name in correct:
        assert f"{name}.py" in text, name


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_program_is_clean(path):
    outcome = run_program(load_program(path))
    assert outcome.finding is None, (
        f"{outcome.finding.kind}: {outcome.finding.title}\n" + "\n".join(outcome.dmesg))


# Fault-injection sweeps on the correct modules. {F} marks the operation that
# gets `(fail_nth: N)`. Each program loads the module (or binds a device) with
# one fallible call failing, then does it again cleanly and uses the result, so
# anything the failed attempt left behind shows up as a finding.
SWEEPS = {
    "ringbuf-load": """\
# modules: ringbuf.py
insmod ringbuf{F}
insmod ringbuf
rmmod ringbuf
""",
    "ringdev-load": """\
# modules: ringdev.py ringbuf.py
modprobe ringdev size=64{F}
modprobe ringdev size=64
open /dev/ringdev -> fd0
write fd0 "sweep"
read fd0 8
close fd0
modprobe -r ringdev
""",
    "edu_pci-load": """\
# modules: edu_pci.py
# kernel: autoload=0
plug pci 1234:11e8 -> dev0
insmod edu_pci{F}
insmod edu_pci
irq 16
tick 200
rmmod edu_pci
""",
    "edu_pci-plug": """\
# modules: edu_pci.py
insmod edu_pci
plug pci 1234:11e8 -> dev0{F}
plug pci 1234:11e8 -> dev1
irq 16
irq dev1
tick 200
open /dev/edu0 -> fd0
read fd0 64
close fd0
""",
    "edu_pci-autoload-plug": """\
# modules: edu_pci.py
# kernel: autoload=1
plug pci 1234:11e8 -> dev0{F}
irq 16
tick 200
""",
    "usbled-load": """\
# modules: usbled.py
# kernel: autoload=0
plug usb 0fc5:1223 -> dev0
insmod usbled{F}
insmod usbled
open /dev/usbled0 -> fd0
write fd0 "1"
unplug dev0
close fd0
rmmod usbled
""",
    "usbled-plug": """\
# modules: usbled.py
insmod usbled
plug usb 0fc5:1223 -> dev0{F}
plug usb 0fc5:1223 -> dev1
open /dev/usbled0 -> fd0
read fd0 4
unplug dev1
close fd0
""",
    "procstats-load": """\
# modules: procstats.py
insmod procstats{F}
insmod procstats
open /proc/kfstats -> fd0
tick 1
read fd0 128
close fd0
rmmod procstats
""",
    "pmwatch-load": """\
# modules: pmwatch.py
# kernel: autoload=0
plug platform pmwatch -> dev0
insmod pmwatch{F}
insmod pmwatch
suspend
rmmod pmwatch
""",
    "pmwatch-plug": """\
# modules: pmwatch.py
insmod pmwatch
plug platform pmwatch -> dev0{F}
suspend
""",
    "usbskel-plug": """\
# modules: usbskel.py
insmod usbskel
plug usb 1d50:6002 -> dev0{F}
plug usb 1d50:6002 -> dev1
open /dev/usbskel0 -> fd0
write fd0 "x"
unplug dev1
read fd0 4
close fd0
""",
    "usb_skeleton-plug": """\
# modules: usb_skeleton.py
insmod usb_skeleton
plug usb fff0:fff0 -> dev0{F}
plug usb fff0:fff0 -> dev1
open /dev/skel0 -> fd0
write fd0 "x"
urb dev1 0x81 "y"
read fd0 4
unplug dev1
close fd0
""",
    "iowarrior-plug": """\
# modules: iowarrior.py
insmod iowarrior
plug usb 07c0:1503 -> dev0{F}
plug usb 07c0:1503 -> dev1
open /dev/iowarrior0 -> fd0
write fd0 x'00010203040506'
urb dev1 0x83 x'01020304050607'
read fd0 7
unplug dev1
close fd0
""",
    "iowarrior-write": """\
# modules: iowarrior.py
insmod iowarrior
plug usb 07c0:1503 -> dev0
open /dev/iowarrior0 -> fd0
write fd0 x'00010203040506'{F}
write fd0 x'00010203040506'
ioctl fd0 0x8028c003 x'00000000000000000000000000000000000000000000000000000000000000000000000000000000'{F}
tick 2
close fd0
""",
    "usbmeter-plug": """\
# modules: usbmeter.py
insmod usbmeter
plug usb 1d50:6004 -> dev0{F}
plug usb 1d50:6004 -> dev1
open /dev/usbmeter0 -> fd0
write fd0 "A"
unplug dev1
close fd0
""",
    "usbtherm-plug": """\
# modules: usbtherm.py
insmod usbtherm
plug usb 1d50:6006 -> dev0{F}
plug usb 1d50:6006 -> dev1
open /dev/usbtherm0 -> fd0
read fd0 8
unplug dev1
close fd0
""",
    "yurex-plug": """\
# modules: yurex.py
insmod yurex
plug usb 0c45:1010 ii8 -> dev0{F}
plug usb 0c45:1010 ii8 -> dev1
open /dev/yurex0 -> fd0
urb dev1 0x81 x'43000000002a0d00'
read fd0 8
unplug dev1
close fd0
""",
    "yurex-write": """\
# modules: yurex.py
insmod yurex
plug usb 0c45:1010 ii8 -> dev0
open /dev/yurex0 -> fd0
write fd0 "S42"{F}
together
  t1: write fd0 "S42"
  t2: urb dev0 0x81 x'2153000000002a0d'
read fd0 8
unplug dev0
close fd0
""",
    "scratchpad-load": """\
# modules: scratchpad.py
insmod scratchpad{F}
insmod scratchpad
open /dev/scratchpad -> fd0
ioctl fd0 0x7301 256
ioctl fd0 0x7302 0
close fd0
rmmod scratchpad
""",
    "scratchpad-resize": """\
# modules: scratchpad.py
insmod scratchpad
open /dev/scratchpad -> fd0
write fd0 "keep"
ioctl fd0 0x7301 256{F}
ioctl fd0 0x7301 32
read fd0 8
close fd0
""",
    "ticketpr-load": """\
# modules: ticketpr.py
insmod ticketpr{F}
insmod ticketpr
open /dev/ticketpr -> fd0
read fd0 8
close fd0
rmmod ticketpr
""",
    "pollcard-plug": """\
# modules: pollcard.py
insmod pollcard
plug pci 1b36:0111 -> dev0{F}
plug pci 1b36:0111 -> dev1
tick 10
unplug dev1
""",
    "msgq-load": """\
# modules: msgq.py
insmod msgq{F}
insmod msgq
open /dev/msgq -> fd0
write fd0 "m"
read fd0 8
close fd0
rmmod msgq
""",
}


@pytest.mark.parametrize("nth", range(1, 9))
@pytest.mark.parametrize("sweep", sorted(SWEEPS))
def test_correct_module_survives_fault_injection(sweep, nth):
    text = SWEEPS[sweep].replace("{F}", f" (fail_nth: {nth})")
    outcome = run_program(parse_program(text, base_dir=TM))
    assert outcome.finding is None, (
        f"{outcome.finding.kind}: {outcome.finding.title}\n" + "\n".join(outcome.dmesg))


def test_sweeps_cover_every_correct_module():
    covered = {key.split("-")[0] for key in SWEEPS}
    assert covered == {p.stem for p in TM.glob("*.py")}


def test_a_buffer_freed_by_devres_names_the_kernel_as_its_freer():
    finding = run_program(load_program(BUGGY / "usbuaf.kfz")).finding
    assert finding.kind == "use-after-free"
    assert finding.free_site and "in the kernel: devres release of" in finding.free_site[0]
    assert "devm_kzalloc in usbuaf_probe" in finding.free_site[0]
