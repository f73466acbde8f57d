"""Bad input, tried by a fuzzer of our own: mutated repros and module files.

Reading a `.kfz`, reading a module file, indexing a folder of them, and the
`replay` and `modinfo` commands on them, each end in a result or in one
ProgramError or ModuleFileError: one line naming the file, the line where there
is one, and the fix. Never another exception, never a hang.

The inputs start from the real repros and modules of target_modules/, mutated a
line, a token and a byte at a time, with special files mixed in: a folder named
x.py, a symbolic link loop, a FIFO, a device, an empty file, a file over the
1 MiB cap. In the suite each property tries a few hundred inputs with a fixed
seed; `KFUZZ_BAD_INPUT_EXAMPLES=20000` tries that many each, with fresh
randomness, to hunt.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_cli import kfuzz

from kfuzz.kernel import ModuleFileError, ModuleIndex, read_image
from kfuzz.kernel import image as image_module
from kfuzz.prog import ProgramError, load_program, parse_program, program_index
from kfuzz.textfile import MAX_SIZE, one_line

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "target_modules"
REPROS = [p.read_text().splitlines() for p in sorted(TARGETS.rglob("*.kfz"))]
MODULES = [p.read_text().splitlines() for p in sorted(TARGETS.rglob("*.py"))]
GOOD = 'from kfuzz.kapi import *\nMODULE_LICENSE = "GPL"\n\n@module_init\ndef m_init():\n    return 0\n'
HUNT = int(os.environ.get("KFUZZ_BAD_INPUT_EXAMPLES", "0"))
FUZZ = settings(max_examples=HUNT or 300, deadline=None, derandomize=not HUNT, database=None,
                suppress_health_check=list(HealthCheck),
                phases=[p for p in Phase if p != Phase.explain])  # its tracing makes 1 MiB slow
HANG_S = 10.0  # no input takes this long to read or refuse; a hang is far longer
T = TypeVar("T")
TRIED: Counter[str] = Counter()  # inputs tried, by kind (printed when hunting, with -s)

# -- special files: made once, named from the mutated headers and folders ----------------

SPECIAL_KINDS = ("dir", "loop", "dangling", "fifo", "zero", "empty", "big", "unreadable", "good")


def make_special(path: Path, kind: str, text: str = GOOD) -> None:
    if kind == "dir":
        path.mkdir()
        (path / "inner.py").write_text(GOOD)
    elif kind in ("loop", "dangling", "zero"):
        path.symlink_to({"loop": path.name, "dangling": "nothere", "zero": "/dev/zero"}[kind])
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_text({"empty": "", "big": text + "#" * MAX_SIZE + "\n"}.get(kind, text))
        if kind == "unreadable":
            path.chmod(0)


@pytest.fixture(scope="module")
def specials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("specials")
    for kind in SPECIAL_KINDS:
        make_special(root / f"{kind}.py", kind)
        make_special(root / f"{kind}.kfz", kind, "# modules: good.py\ninsmod good\n")
    make_special(root / "new\nline.py", "good")
    (root / "key.pub").write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
    return root


# -- mutations ---------------------------------------------------------------------------------

HEADER_WORDS = [f"{k}.py" for k in SPECIAL_KINDS] + [
    "usbuaf.py", "oobwrite.py", "buggy/oobwrite.py", "nothere.py", "/", "", ".", "..", "*", "**", "[",
    "a\x00b.py", "a" * 300 + ".py", "../" * 40 + "x.py", "ü.py", "key.pub", "sig_enforce=1", "autoload=2",
    "keyring=key.pub", "keyring=good.py", "keyring=fifo.py", "keyring=", "=", "python-leak", "leak"]
TOKENS = sorted({t for lines in REPROS for line in lines for t in line.split()}) + [
    "->", "-> 1x", "dev0", "fd9", "(fail_nth:", "(fail_nth: 0)", "(fail_nth: ٣)",
    "(fail_nth: " + "9" * 5000 + ")", "as", "nobody",
    '"', '"open', '"\\', '"\\x"', '"\\u12"', '"\\N{nope}"', "x'", "x'zz'", "x'0'", "0x",
    "9" * 5000, "0x" + "f" * 5000, "-1", "١٢", "ffff:ffff", "8086:12345", "#", "\\", "x" * 10000]
HEADERS = ["# modules:", "# kernel:", "# check:", "#modules:", "# modules :", "# kernel: keyring"]
EXPRS = ['"GPL"', "5", "None", "True", "[1]", "{[1]: 2}", "{[1]}", "{1: [2]}", "x", 'f"a{x}"', "1+1", "-1",
         "1j", 'b"GPL"', "(lambda: 1)()", '"a" "b"', '"\\n"', "'''two\nlines'''", "[" * 60 + "]" * 60,
         "(" * 150 + "1" + ")" * 150, "-" * 3000 + "1", "+".join(["1"] * 3000), "0x" + "f" * 5000,
         "1" * 5000, "1e999", "...", '"' + "a" * 200 + '"', "PCI_ANY_ID", '"pre: ringbuf"', '"post:"',
         "0xffff", "0x10000", "-0x1", '"leds"', '""', "int", "str", "float", "*x", "**x"]
STATEMENTS = ["MODULE_LICENSE = {e}", "MODULE_DESCRIPTION = {e}", "MODULE_AUTHOR = {e}",
              "MODULE_SOFTDEP = {e}", "MODULE_DEVICE_TABLE = {e}", "MODULE_DEVICE_TABLE = [{e}]",
              "MODULE_DEVICE_TABLE = [pci_device_id({e}, {e})]", "MODULE_DEVICE_TABLE = [usb_device_id({e})]",
              "MODULE_DEVICE_TABLE = [platform_device_id({e})]", "x = module_param({e}, {e}, {e}, {e})",
              "module_param(name={e}, type={e}, default={e}, desc={e})", 'module_param("n", {e})',
              "import_symbol({e})", "EXPORT_SYMBOL({e})", "EXPORT_SYMBOL_GPL({e})", "module_init({e})",
              "module_exit({e})", "@module_init\ndef f():\n    return {e}", "@module_exit\ndef g():\n    {e}",
              "def broken(:", "\tx = {e}", "  x = 1", "if True:", "{e}", "module_param(**{e})",
              "MODULE_LICENSE, x = {e}", "while True:\n    pass", "# -*- coding: latin-1 -*-",
              "x = [1](2)", "# ~Module signature appended~ key={e} sig={e}"]


# Python expressions: literals of every type, odd ones, and nestings of them
EXPRESSIONS = st.recursive(
    st.sampled_from(EXPRS) | st.integers().map(str) | st.text(max_size=8).map(repr),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
        st.tuples(inner, inner).map(lambda ab: f"{{{ab[0]}: {ab[1]}}}"),
        st.tuples(st.sampled_from(["pci_device_id", "platform_device_id", "f", "-"]), inner)
        .map(lambda fa: f"{fa[0]}({fa[1]})"),
        st.tuples(inner, st.sampled_from(["+", "-", "*", " if x else "]), inner).map("".join)),
    max_leaves=6)
# text with anything in it: controls, line breaks of every kind, a BOM, surrogates
ODD_TEXT = st.text(st.characters(exclude_categories=())
                   | st.sampled_from("\x00\r\n\x0b\x0c\x1c\x85\u2028\ufeff"), max_size=12)


@st.composite
def mutated_lines(draw: st.DrawFn, seeds: list[list[str]], made: st.SearchStrategy[str]) -> str:
    """A seed's lines, mutated: lines deleted, duplicated, swapped, made anew, cut, or
    given a new token or odd text; then joined with line breaks of some kind."""
    lines = list(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(lines)))
        what = draw(st.sampled_from(["del", "dup", "swap", "new", "token", "odd", "cut"]))
        if what == "new" or not lines:
            lines.insert(at, draw(made))
            continue
        at = min(at, len(lines) - 1)
        line = lines[at]
        cut = draw(st.integers(0, len(line)))
        if what == "del":
            del lines[at]
        elif what == "dup":
            lines.insert(at, line)
        elif what == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], line
        elif what == "token":
            words = line.split(" ")
            words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(TOKENS))
            lines[at] = " ".join(words)
        elif what == "odd":
            lines[at] = line[:cut] + draw(ODD_TEXT) + line[cut:]
        else:
            lines[at] = line[:cut]
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines) + draw(st.sampled_from(["\n", ""]))


@st.composite
def mangled(draw: st.DrawFn, text: st.SearchStrategy[str]) -> bytes:
    """Text as bytes (a surrogate makes them non-UTF-8), some bytes cut, inserted or
    overwritten; now and then padded past the size cap."""
    data = bytearray(draw(text).encode("utf-8", "surrogatepass"))
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(data)))
        what = draw(st.sampled_from(["insert", "overwrite", "truncate", "bom"]))
        if what == "truncate":
            del data[at:]
        elif what == "bom":
            data[0:0] = b"\xef\xbb\xbf"
        else:
            chunk = draw(st.binary(min_size=1, max_size=4))
            data[at:at + (len(chunk) if what == "overwrite" else 0)] = chunk
    if draw(st.integers(0, 60)) == 0:
        data += b"#" * (MAX_SIZE + 1 - len(data))
    return bytes(data)


PROGRAM_LINES = (st.sampled_from([line for lines in REPROS for line in lines])
                 | st.tuples(st.sampled_from(HEADERS), st.lists(st.sampled_from(HEADER_WORDS), max_size=3))
                 .map(lambda hw: f"{hw[0]} {' '.join(hw[1])}")
                 | st.lists(st.sampled_from(TOKENS), min_size=1, max_size=5).map(" ".join))
MODULE_LINES = st.tuples(st.sampled_from(STATEMENTS), st.lists(EXPRESSIONS, min_size=4, max_size=4)).map(
    lambda se: fill(*se))


def fill(statement: str, exprs: list[str]) -> str:
    for e in exprs:
        statement = statement.replace("{e}", e, 1)
    return statement


PROGRAMS = mutated_lines(REPROS, PROGRAM_LINES)
MODULE_TEXTS = mutated_lines(MODULES, MODULE_LINES)

# -- the checks -------------------------------------------------------------------------------


class Hang(Exception):
    pass


@contextmanager
def within(seconds: float) -> Iterator[None]:
    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"no answer in {seconds} s")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def attempt(call: Callable[[], T], lines: int | None = None) -> T | ProgramError | ModuleFileError:
    """What CALL returns, or the error it gives; anything else escapes and fails the test."""
    with within(HANG_S):
        try:
            return call()
        except (ProgramError, ModuleFileError) as err:
            check_error(err, lines)
            return err


def line_count(data: bytes) -> int:
    """Lines as an editor, grep -n and Python count them: ended by \\n, \\r\\n or \\r."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1


def check_error(err: ProgramError | ModuleFileError, lines: int | None = None) -> None:
    """One line that starts with the file and the line (where there is one), with a fix."""
    text = str(err)
    where = one_line(err.where if isinstance(err, ProgramError) else str(err.path))
    assert "\n" not in text and "\r" not in text, repr(text)
    assert len(text) < len(where) + 600, text  # a megabyte token is not quoted whole
    assert text.startswith(f"{where}:{err.lineno}: " if err.lineno else f"{where}: "), repr(text)
    if isinstance(err, ModuleFileError):
        assert err.fix, repr(text)
    path = Path(err.where if isinstance(err, ProgramError) else err.path)
    if lines is None and path.is_file():
        lines = line_count(path.read_bytes())
    if err.lineno and lines is not None:
        assert 1 <= err.lineno <= lines, (text, lines)


def check_cli(err: ProgramError | ModuleFileError, *args: object) -> None:
    with within(HANG_S):
        result = kfuzz(*args)
    code, stderr = result.exit_code, result.stderr
    assert (code, stderr) == (2, f"kfuzz: error: {err}\n")


@pytest.fixture(scope="module", autouse=True)
def tally() -> Iterator[None]:
    yield
    if HUNT:
        print(f"\nbad inputs tried: {sum(TRIED.values())} ({dict(TRIED)})", file=sys.stderr)


@contextmanager
def fresh_folder(root: Path) -> Iterator[Path]:
    """A new folder for one input, removed after it (a hunt makes tens of thousands)."""
    folder = Path(tempfile.mkdtemp(dir=root, prefix="case"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)
        image_module._cache.clear()  # a later folder may have this one's name


# -- the properties ---------------------------------------------------------------------------


@FUZZ
@given(text=PROGRAMS | ODD_TEXT, module_path=st.booleans())
def test_a_mutated_program_text_parses_or_is_refused(specials: Path, text: str, module_path: bool) -> None:
    TRIED["program text"] += 1
    attempt(lambda: parse_program(text, specials, "bad.kfz", TARGETS if module_path else None),
            line_count(text.encode("utf-8", "surrogatepass")))


@FUZZ
@given(data=mangled(PROGRAMS), module_path=st.booleans())
def test_a_mutated_repro_file_loads_or_is_refused(specials: Path, data: bytes, module_path: bool) -> None:
    TRIED["repro file"] += 1
    with fresh_folder(specials) as folder:
        kfz = folder / "bad.kfz"
        kfz.write_bytes(data)
        for name in ("good.py", "loop.py", "dir.py", "fifo.py", "big.py", "zero.py"):
            (folder / name).symlink_to(specials / name)
        found = attempt(lambda: program_index(load_program(kfz, TARGETS if module_path else None)))
        if isinstance(found, (ProgramError, ModuleFileError)):  # nothing runs, so the CLI is cheap
            check_cli(found, "replay", kfz, *(["--module-path", TARGETS] if module_path else []))


@FUZZ
@given(data=mangled(MODULE_TEXTS))
def test_a_mutated_module_file_reads_or_is_refused(specials: Path, data: bytes) -> None:
    TRIED["module file"] += 1
    with fresh_folder(specials) as folder:
        path = folder / "mod.py"
        path.write_bytes(data)
        found = attempt(lambda: read_image(path))
        if isinstance(found, ModuleFileError):
            check_cli(found, "modinfo", path)
        else:
            with within(HANG_S):
                result = kfuzz("modinfo", path)
                code, stderr = result.exit_code, result.stderr
            assert code == 0 and stderr == ""


FOLDER_NAMES = ["a.py", "b.py", "a-b.py", "a_b.py", "sub/c.py", "sub/a.py", "__init__.py", "test_x.py",
                "examples/e.py", "new\nline.py", "ü.py", ".hidden.py", "x.kfz", "deep/" * 20 + "d.py"]


@FUZZ
@given(entries=st.lists(st.tuples(st.sampled_from(FOLDER_NAMES),
                                  st.sampled_from(SPECIAL_KINDS) | mangled(MODULE_TEXTS)), max_size=4))
def test_a_folder_of_mutated_module_files_indexes_or_is_refused(
        specials: Path, entries: list[tuple[str, str | bytes]]) -> None:
    TRIED["module folder"] += 1
    with fresh_folder(specials) as folder:
        for name, made in entries:
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(path):
                continue
            if isinstance(made, bytes):
                path.write_bytes(made)
            else:
                make_special(path, made)
        found = attempt(lambda: ModuleIndex.scan([folder]))
        if isinstance(found, ModuleFileError):
            assert folder in Path(found.path).parents or Path(found.path) == folder


# -- each special file, by name ---------------------------------------------------------------


@pytest.mark.parametrize("kind", [k for k in SPECIAL_KINDS if k != "good"])
def test_a_special_module_file_is_refused_with_its_name_and_a_fix(specials: Path, kind: str) -> None:
    path = specials / f"{kind}.py"
    if kind == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads any file")
    calls = [lambda: read_image(path), lambda: image_module.cached_image(path)]
    if kind != "dir":  # a folder given to scan is searched for module files
        calls.append(lambda: ModuleIndex.scan([path]))
    errors = [attempt(call) for call in calls]
    for err in errors:
        assert isinstance(err, ModuleFileError) and err.path == path, err
    assert isinstance(errors[0], ModuleFileError)
    check_cli(errors[0], "modinfo", path)
    if kind != "dir":  # fuzz takes a folder as a folder of targets; the rest is refused before it starts
        with within(HANG_S):
            result = kfuzz("fuzz", "--no-db", "--module-path", TARGETS, path)
            code, stderr = result.exit_code, result.stderr
        assert code == 2 and stderr.startswith(f"kfuzz: error: {path}:") and stderr.count("\n") == 1


@pytest.mark.parametrize("kind", [k for k in SPECIAL_KINDS if k != "good"])
def test_a_special_repro_file_is_refused_with_its_name_and_a_fix(specials: Path, kind: str) -> None:
    path = specials / f"{kind}.kfz"
    if kind == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads any file")
    err = attempt(lambda: load_program(path))
    assert isinstance(err, ProgramError) and err.where == str(path), err
    if kind not in ("dir", "dangling", "loop"):  # replay takes a folder as a report, checks existence
        check_cli(err, "replay", path)


def test_an_unreadable_file_is_refused_as_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root every file is readable, so the refusal is made to happen."""
    module, repro = tmp_path / "m.py", tmp_path / "r.kfz"
    module.write_text(GOOD)
    repro.write_text("insmod m\n")
    real_open = os.open

    def refuse(path: object, *args: object) -> int:
        if Path(str(path)) in (module, repro):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args)  # type: ignore[arg-type]
    monkeypatch.setattr(os, "open", refuse)
    err = attempt(lambda: read_image(module))
    assert isinstance(err, ModuleFileError)
    assert str(err) == f"{module}: module file is not readable (permission denied); fix: make it readable: " \
                       "chmod a+r FILE"
    check_cli(err, "modinfo", module)
    err = attempt(lambda: load_program(repro))
    assert isinstance(err, ProgramError) and "repro file is not readable" in str(err)
    check_cli(err, "replay", repro)


def test_files_just_under_the_cap_are_read_in_time(tmp_path: Path) -> None:
    """The largest inputs allowed, of the shapes that were slow: many distinct constants
    or imported symbols in a module, long runs of spaces in an operation."""
    module = tmp_path / "m.py"
    numbers = ", ".join(str(n) for n in range(120_000))
    module.write_text(f"{GOOD}X = [{numbers}]\nS = [{', '.join(repr(str(n)) for n in range(20_000))}]\n")
    assert MAX_SIZE - 100_000 < module.stat().st_size <= MAX_SIZE
    image = attempt(lambda: read_image(module))
    assert not isinstance(image, ModuleFileError) and len(image.ints) == 120_000
    module.write_text(GOOD + "".join(f'import_symbol("s{n}")\n' for n in range(44_000)))
    assert MAX_SIZE - 100_000 < module.stat().st_size <= MAX_SIZE
    image = attempt(lambda: read_image(module))
    assert not isinstance(image, ModuleFileError) and len(image.imports) == 44_000
    repro = tmp_path / "r.kfz"
    repro.write_text("tick" + " " * (MAX_SIZE // 2) + "1 (fail_nth" + " " * (MAX_SIZE // 3) + "x\n")
    assert isinstance(attempt(lambda: load_program(repro)), ProgramError)


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(GOOD + "#" * MAX_SIZE)
    err = attempt(lambda: read_image(module))
    assert isinstance(err, ModuleFileError)
    assert f"{module}: module file is {len(GOOD) + MAX_SIZE:,} bytes, over the 1 MiB limit" in str(err)


def test_line_numbers_count_lines_as_an_editor_does() -> None:
    err = attempt(lambda: parse_program("insmod m\x0cfrobnicate\u2028x\r\nbogus\n", where="r.kfz"))
    assert isinstance(err, ProgramError) and str(err).startswith("r.kfz:1: ")
