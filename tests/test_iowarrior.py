"""target_modules/iowarrior.py, the port of Linux's drivers/usb/misc/iowarrior.c: the
data race mainline has in iowarrior_poll is marked in the port, and reported as Linux
has it."""

from __future__ import annotations

from pathlib import Path

from ports import linux_as_is

from kfuzz.kernel import ModuleIndex
from kfuzz.prog import parse_program
from kfuzz.prog.outcome import Outcome
from kfuzz.prog.session import KernelSession

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "target_modules" / "iowarrior.py"
POLL_AGAINST_UNPLUG = """\
insmod iowarrior
plug usb 07c0:1503 -> dev0
open /dev/iowarrior0 -> fd0
together
  t1: poll fd0
  t2: {teardown}
"""


def run(module: Path, teardown: str) -> Outcome:
    text = f"# modules: {module}\n" + POLL_AGAINST_UNPLUG.format(teardown=teardown)
    prog = parse_program(text, base_dir=ROOT)
    return KernelSession(ModuleIndex.scan([module])).run(prog)


def test_poll_against_unplug_is_linuxs_data_race_unmarked_and_clean_marked(tmp_path: Path) -> None:
    as_is = linux_as_is(MODULE, tmp_path)
    for teardown in ("unplug dev0", "unbind dev0"):
        race = run(as_is, teardown).finding
        assert race is not None, f"{teardown}: iowarrior_poll's plain read of dev->present"
        assert race.kind == "data-race"
        assert race.title == "KCSAN: data-race in iowarrior_disconnect / iowarrior_poll"
        assert "field 'present'" in race.message
        marked = run(MODULE, teardown)
        assert marked.finding is None, (teardown, marked.finding)
