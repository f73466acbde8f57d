"""The kfuzz command line: replay, modinfo, keygen, sign, and fuzz's argument checks.

Most tests drive the click commands in this process with CliRunner; a couple run
the installed `kfuzz` script in a subprocess. Exit status is the contract:
0 clean, 1 a bug was found, 2 bad usage or input (nothing runs), 130 interrupted.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from kfuzz import cli
from kfuzz.cli import main

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "target_modules"
BUGGY = TARGETS / "buggy"
EXAMPLES = sorted((TARGETS / "examples").glob("*.kfz"))
OOB_TITLE = "KASAN: slab-out-of-bounds in oobwrite_write"
GOOD_MODULE = 'from kfuzz.kapi import *\n\nMODULE_LICENSE = "GPL"\n'


def kfuzz(*args: object) -> Result:
    """Runs `kfuzz ARGS` in this process; wide columns keep rich from wrapping titles."""
    runner = CliRunner()
    return runner.invoke(main, [str(a) for a in args], env={"COLUMNS": "250"}, catch_exceptions=False)


def json_lines(result: Result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def expected_title(module: Path) -> str | None:
    """The title a planted bug's docstring promises (`Expected: "..."`)."""
    m = re.search(r'Expected:\s*"([^"]+)"', module.read_text())
    return " ".join(m.group(1).split()) if m else None


def write_kfz(path: Path, *lines: str, modules: tuple[Path, ...] = (BUGGY / "oobwrite.py",)) -> Path:
    header = ["# kfuzz repro", f"# modules: {' '.join(str(m) for m in modules)}"] if modules else []
    path.write_text("\n".join([*header, *lines]) + "\n")
    return path


# -- replay: outcomes ----------------------------------------------------------------------


def test_replay_buggy_repro_exits_1_and_shows_the_finding() -> None:
    result = kfuzz("replay", BUGGY / "oobwrite.kfz")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert OOB_TITLE in out
    assert "out-of-bounds" in out and "oobwrite_write" in out
    assert "dmesg" in out and "module verification failed" in out  # the kernel log is shown
    assert "insmod oobwrite" in out  # the operations table
    assert "oobwrite.py\", line 23, in oobwrite_write" in out  # traceback into module code


def test_replay_no_log_leaves_the_kernel_log_out() -> None:
    result = kfuzz("replay", "--no-log", BUGGY / "oobwrite.kfz")
    assert result.exit_code == 1
    assert OOB_TITLE in result.stdout
    assert "module verification failed" not in result.stdout


def test_replay_clean_examples_exit_0_with_no_finding() -> None:
    result = kfuzz("replay", "--no-log", *EXAMPLES)
    assert result.exit_code == 0, result.output
    for kfz in EXAMPLES:
        assert f"{kfz}: no finding" in result.stdout
    assert result.stdout.count("no finding") == len(EXAMPLES)


def test_replay_json_is_one_object_per_file() -> None:
    clean = TARGETS / "examples" / "ringdev_rw.kfz"
    result = kfuzz("replay", "--json", BUGGY / "oobwrite.kfz", clean)
    assert result.exit_code == 1
    found, ok = json_lines(result)
    assert found["file"] == str(BUGGY / "oobwrite.kfz")
    assert (found["title"], found["kind"], found["module"], found["function"]) == (
        OOB_TITLE, "out-of-bounds", "oobwrite", "oobwrite_write")
    assert "64-byte buffer" in found["message"]
    assert isinstance(found["dmesg"], list) and any(OOB_TITLE in line for line in found["dmesg"])
    assert ok["file"] == str(clean)
    assert ok["title"] is ok["kind"] is ok["module"] is ok["function"] is ok["message"] is None
    assert any("ringdev" in line for line in ok["dmesg"])
    assert set(found) == set(ok)  # the same keys either way


def test_replay_json_clean_run_exits_0() -> None:
    result = kfuzz("replay", "--json", *EXAMPLES[:3])
    assert result.exit_code == 0
    assert [r["title"] for r in json_lines(result)] == [None] * 3


def test_inprocess_isolation_finds_what_fork_finds() -> None:
    repros = [p for p in sorted(BUGGY.glob("*.kfz")) if p.stem not in ("hangioctl", "crashioctl")]
    fork = json_lines(kfuzz("replay", "--json", *repros))
    inproc = json_lines(kfuzz("replay", "--json", "--isolation", "inprocess", *repros))
    assert [r["title"] for r in fork] == [r["title"] for r in inproc]
    for repro, record in zip(repros, fork, strict=True):
        assert record["title"], repro
        want = expected_title(repro.with_suffix(".py"))
        if want:
            assert record["title"] == want


def test_hang_is_reported_with_fork_isolation() -> None:
    result = kfuzz("replay", "--json", "--op-timeout", "0.2", BUGGY / "hangioctl.kfz")
    assert result.exit_code == 1
    [record] = json_lines(result)
    assert record["kind"] == "hang"
    assert record["title"] == "INFO: task hung in hangioctl_ioctl"
    assert (record["module"], record["function"]) == ("hangioctl", "hangioctl_ioctl")
    assert "0.2 seconds" in record["message"]


def test_crash_is_reported_with_fork_isolation() -> None:
    result = kfuzz("replay", "--json", BUGGY / "crashioctl.kfz")
    assert result.exit_code == 1
    [record] = json_lines(result)
    assert record["kind"] == "crash"
    assert "exited with code 3" in record["title"]
    assert record["title"].endswith("in crashioctl_ioctl")
    assert record["module"] == "crashioctl"


def test_crash_human_output() -> None:
    result = kfuzz("replay", BUGGY / "crashioctl.kfz")
    assert result.exit_code == 1
    assert "exited with code 3" in result.stdout and "crash" in result.stdout


def test_replay_accepts_a_report_folder(tmp_path: Path) -> None:
    folder = tmp_path / "out-of-bounds-KASAN-slab-out-of-bounds-in-oobwrite_write"
    folder.mkdir()
    write_kfz(folder / "repro.kfz", "insmod oobwrite", "open /dev/oobwrite -> fd0",
              'write fd0 x\'' + "41" * 65 + "'")
    result = kfuzz("replay", "--json", folder)
    assert result.exit_code == 1, result.output
    [record] = json_lines(result)
    assert record["title"] == OOB_TITLE and record["file"] == str(folder)


def test_module_paths_are_relative_to_the_repro_file(tmp_path: Path) -> None:
    (tmp_path / "mods").mkdir()
    shutil.copy(BUGGY / "oobwrite.py", tmp_path / "mods" / "oobwrite.py")
    kfz = write_kfz(tmp_path / "r.kfz", "insmod oobwrite", "open /dev/oobwrite -> fd0",
                    'write fd0 "' + "A" * 70 + '"', modules=(Path("mods/oobwrite.py"),))
    result = kfuzz("replay", "--json", kfz)
    assert result.exit_code == 1, result.output
    assert json_lines(result)[0]["title"] == OOB_TITLE


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "replay_program", interrupted)
    result = kfuzz("replay", BUGGY / "oobwrite.kfz")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr


# -- replay: bad input, exit 2, nothing runs ------------------------------------------------


@pytest.mark.parametrize(("line", "lineno", "says"), [
    ("frobnicate fd0", 4, "unknown operation 'frobnicate' (expected one of insmod"),
    ("ioctl fd0 zz 0", 4, "expected 'ioctl fdN CMD ARG|DATA'"),
    ('write fd0 "unterminated', 4, "unterminated string"),
    ("# kernel: bogus=1", 4, "bad kernel setting 'bogus=1' (expected NAME=VALUE"),
    ("# kernel: sig_enforce=2", 4, "sig_enforce is 0 or 1, not '2'"),
    ("# kernel: dyndbg=+p", 4, "dyndbg is 0 or 1, not '+p'"),
    ("# check: nonsense", 4, "unknown check 'nonsense'"),
    ("# modules: nowhere.py", 4, "module file 'nowhere.py' not found"),
])
def test_bad_kfz_line_names_file_line_and_expectation(tmp_path: Path, line: str, lineno: int,
                                                      says: str) -> None:
    kfz = write_kfz(tmp_path / "bad.kfz", "insmod oobwrite", line, "rmmod oobwrite")
    result = kfuzz("replay", kfz)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"kfuzz: error: {kfz}:{lineno}: ")
    assert says in result.stderr
    assert "Traceback" not in result.output


def test_missing_file_is_bad_input(tmp_path: Path) -> None:
    result = kfuzz("replay", tmp_path / "nothere.kfz")
    assert result.exit_code == 2
    assert f"{tmp_path / 'nothere.kfz'}: no such file or report folder" in result.stderr


def test_folder_without_repro_is_bad_input(tmp_path: Path) -> None:
    result = kfuzz("replay", tmp_path)
    assert result.exit_code == 2
    assert f"{tmp_path}: a folder without repro.kfz" in result.stderr


@pytest.mark.parametrize(("source", "lineno", "says"), [
    (GOOD_MODULE + "\ndef broken(:\n    pass\n", 5, "syntax error"),
    ('from kfuzz.kapi import *\n\nMODULE_DESCRIPTION = "no licence"\n', 1, "missing MODULE_LICENSE"),
])
def test_bad_module_file_is_bad_input(tmp_path: Path, source: str, lineno: int, says: str) -> None:
    mod = tmp_path / "broken.py"
    mod.write_text(source)
    kfz = write_kfz(tmp_path / "r.kfz", "insmod broken", modules=(mod,))
    result = kfuzz("replay", kfz)
    assert result.exit_code == 2, result.output
    assert f"{mod}:{lineno}: {says}" in result.stderr
    assert "fix:" in result.stderr
    assert result.stdout == ""


def test_one_bad_file_means_nothing_runs(tmp_path: Path) -> None:
    bad = write_kfz(tmp_path / "bad.kfz", "insmod oobwrite", "frobnicate")
    result = kfuzz("replay", BUGGY / "oobwrite.kfz", TARGETS / "examples" / "ringdev_rw.kfz", bad)
    assert result.exit_code == 2
    assert f"{bad}:4:" in result.stderr
    assert result.stdout == ""  # the good files were not replayed
    assert "oobwrite" not in result.output and "no finding" not in result.output


def test_keyring_that_is_not_a_public_key_is_bad_input(tmp_path: Path) -> None:
    assert kfuzz("keygen", "--dir", tmp_path / "keys").exit_code == 0
    kfz = write_kfz(tmp_path / "r.kfz", "# kernel: sig_enforce=1 keyring=keys/signing_key.pem",
                    "insmod oobwrite")
    result = kfuzz("replay", kfz)
    assert result.exit_code == 2, result.output
    assert re.search(rf"{re.escape(str(kfz))}:\d+: keyring file 'keys/signing_key.pem' is not an "
                     "Ed25519 public key", result.stderr), result.stderr
    assert "kfuzz keygen" in result.stderr
    assert "Traceback" not in result.output


def test_bad_options_are_usage_errors() -> None:
    assert kfuzz("replay").exit_code == 2  # no file
    result = kfuzz("replay", "--isolation", "vm", BUGGY / "oobwrite.kfz")
    assert result.exit_code == 2 and "'vm' is not one of" in result.stderr
    assert kfuzz("replay", "--op-timeout", "0", BUGGY / "oobwrite.kfz").exit_code == 2


# -- modinfo -------------------------------------------------------------------------------


def row(out: str, key: str) -> list[str]:
    """The values of modinfo's KEY rows."""
    return [line.split(None, 1)[1].strip() if len(line.split(None, 1)) > 1 else ""
            for line in out.splitlines() if line.split(None, 1)[:1] == [key]]


def test_modinfo_ringdev() -> None:
    result = kfuzz("modinfo", TARGETS / "ringdev.py")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert row(out, "name") == ["ringdev"]
    assert row(out, "license") == ["GPL"]
    assert row(out, "description") == ["ring buffer char device"]
    assert row(out, "parm") == ["size:ring size in bytes (1..65536) (int, default 4096)"]
    assert row(out, "imports") == ["ring_alloc, ring_push, ring_pop, ring_len, ring_free"]
    assert row(out, "depends") == ["ringbuf"]
    assert row(out, "signature") == ["unsigned"]
    assert row(out, "init/exit") == ["init / exit"]
    assert "unresolved" not in out


def test_modinfo_exports_mark_gpl_only() -> None:
    result = kfuzz("modinfo", TARGETS / "ringbuf.py")
    assert result.exit_code == 0
    assert row(result.stdout, "export") == ["ring_alloc", "ring_push", "ring_pop", "ring_len",
                                            "ring_free (GPL-only)"]
    assert row(result.stdout, "depends") == ["-"]


@pytest.mark.parametrize(("module", "alias"), [
    ("edu_pci.py", "pci:v00001234d000011E8"),
    ("usbled.py", "usb:v00000FC5d00001223"),
])
def test_modinfo_aliases(module: str, alias: str) -> None:
    result = kfuzz("modinfo", TARGETS / module)
    assert result.exit_code == 0
    assert row(result.stdout, "alias") == [alias]


def test_modinfo_licence_softdeps_params_and_unresolved_symbols(tmp_path: Path) -> None:
    mod = tmp_path / "odd.py"
    mod.write_text('from kfuzz.kapi import *\n\nMODULE_LICENSE = "Proprietary"\n'
                   'MODULE_SOFTDEP = "pre: aa bb post: cc"\n'
                   'helper = import_symbol("nobody_exports_this")\n'
                   'flag = module_param("flag", bool, False)\n'
                   'label = module_param("label", str, "x", desc="a label")\n\n'
                   "@module_init\ndef odd_init():\n    return 0\n")
    result = kfuzz("modinfo", mod)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert row(out, "license") == ["Proprietary  (taints P)"]
    assert row(out, "softdep") == ["pre: aa bb post: cc"]
    assert row(out, "parm") == ["flag: (bool, default False)", "label:a label (str, default 'x')"]
    assert row(out, "init/exit") == ["init / -  (permanent: no exit)"]
    assert "unresolved symbols: nobody_exports_this" in out


def test_modinfo_module_path_names_dependencies(tmp_path: Path) -> None:
    shutil.copy(TARGETS / "ringdev.py", tmp_path / "ringdev.py")
    alone = kfuzz("modinfo", tmp_path / "ringdev.py")
    assert row(alone.stdout, "depends") == ["-"]
    assert "unresolved symbols: ring_alloc" in alone.stdout
    found = kfuzz("modinfo", "--module-path", TARGETS, tmp_path / "ringdev.py")
    assert row(found.stdout, "depends") == ["ringbuf"]


def test_modinfo_bad_module_file(tmp_path: Path) -> None:
    mod = tmp_path / "broken.py"
    mod.write_text(GOOD_MODULE + "x = (\n")
    result = kfuzz("modinfo", mod)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"kfuzz: error: {mod}:4: syntax error")
    assert result.stdout == ""
    assert kfuzz("modinfo", tmp_path / "missing.py").exit_code == 2


def test_modinfo_ignores_a_bad_module_beside_it(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n")
    shutil.copy(TARGETS / "ringbuf.py", tmp_path / "ringbuf.py")
    result = kfuzz("modinfo", tmp_path / "ringbuf.py")
    assert result.exit_code == 0, result.output
    assert row(result.stdout, "name") == ["ringbuf"]


# -- keygen, sign, signature enforcement -----------------------------------------------------


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    result = kfuzz("keygen", "--dir", tmp_path / "keys")
    assert result.exit_code == 0, result.output
    return tmp_path / "keys"


def key_id_of(keygen_output: str) -> str:
    return re.search(r"key id ([0-9a-f]{16})", keygen_output).group(1)


def test_keygen_writes_a_pair_and_refuses_to_overwrite(tmp_path: Path) -> None:
    first = kfuzz("keygen", "--dir", tmp_path / "k")
    assert first.exit_code == 0
    assert (tmp_path / "k" / "signing_key.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (tmp_path / "k" / "signing_key.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert (tmp_path / "k" / "signing_key.pem").stat().st_mode & 0o077 == 0
    pem = (tmp_path / "k" / "signing_key.pem").read_bytes()
    again = kfuzz("keygen", "--dir", tmp_path / "k")
    assert again.exit_code == 2
    assert "signing_key.pem exists: pass --force" in again.stderr
    assert (tmp_path / "k" / "signing_key.pem").read_bytes() == pem
    forced = kfuzz("keygen", "--dir", tmp_path / "k", "--force")
    assert forced.exit_code == 0
    assert key_id_of(forced.stdout) != key_id_of(first.stdout)


def test_keygen_keeps_a_lone_public_key(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "signing_key.pub").write_text("trusted\n")
    result = kfuzz("keygen", "--dir", tmp_path / "k")
    assert result.exit_code == 2
    assert (tmp_path / "k" / "signing_key.pub").read_text() == "trusted\n"


def test_sign_then_modinfo_checks_the_signature(keys: Path, tmp_path: Path) -> None:
    mod = tmp_path / "ringbuf.py"
    shutil.copy(TARGETS / "ringbuf.py", mod)
    signed = kfuzz("sign", keys / "signing_key.pem", mod)
    assert signed.exit_code == 0, signed.output
    kid = re.search(r"signed with key ([0-9a-f]{16})", signed.stdout).group(1)
    assert mod.read_text().splitlines()[-1].startswith(f"# ~Module signature appended~ key={kid} sig=")
    assert row(kfuzz("modinfo", mod).stdout, "signature") == [
        f"signed with key {kid} (give --keyring to check it)"]
    assert row(kfuzz("modinfo", "--keyring", keys / "signing_key.pub", mod).stdout,
               "signature") == [f"key {kid}: valid"]
    # signing again replaces the signature
    assert kfuzz("sign", keys / "signing_key.pem", mod).exit_code == 0
    assert mod.read_text().count("~Module signature appended~") == 1
    # an edit after signing breaks it
    mod.write_text(mod.read_text().replace("byte ring buffer library", "edited"))
    assert row(kfuzz("modinfo", "--keyring", keys / "signing_key.pub", mod).stdout,
               "signature") == [f"key {kid}: bad-signature"]


def test_modinfo_signature_states(keys: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert kfuzz("keygen", "--dir", other).exit_code == 0
    mod = tmp_path / "ringbuf.py"
    shutil.copy(TARGETS / "ringbuf.py", mod)
    assert row(kfuzz("modinfo", "--keyring", keys / "signing_key.pub", mod).stdout,
               "signature") == ["unsigned"]
    assert kfuzz("sign", other / "signing_key.pem", mod).exit_code == 0
    [state] = row(kfuzz("modinfo", "--keyring", keys / "signing_key.pub", mod).stdout, "signature")
    assert state.endswith(": untrusted-key")
    bad = kfuzz("modinfo", "--keyring", keys / "signing_key.pem", mod)
    assert bad.exit_code == 2
    assert "signing_key.pem is not an Ed25519 public key" in bad.stderr


def test_sig_enforce_loads_signed_and_refuses_unsigned(keys: Path, lab) -> None:
    signed = lab.device("sigok")
    lab.device("nosig")
    assert kfuzz("sign", keys / "signing_key.pem", signed).exit_code == 0
    kfz = write_kfz(lab.root / "enforce.kfz", "# kernel: sig_enforce=1 keyring=keys/signing_key.pub",
                    "insmod sigok", "open /dev/sigok -> fd0", "close fd0", "insmod nosig",
                    "rmmod sigok", modules=(Path("sigok.py"), Path("nosig.py")))
    result = kfuzz("replay", kfz)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert re.search(r"insmod sigok\s+│ 0\b", result.stdout)
    assert re.search(r"open /dev/sigok -> fd0\s+│ fd0\b", result.stdout)
    assert [line for line in lines if "insmod nosig" in line and "-EKEYREJECTED" in line]
    assert "Loading of unsigned module is rejected" in result.stdout  # kernel/module/signing.c
    assert "no finding" in result.stdout


def test_sign_errors(keys: Path, tmp_path: Path) -> None:
    good = tmp_path / "ringbuf.py"
    shutil.copy(TARGETS / "ringbuf.py", good)
    before = good.read_text()
    broken = tmp_path / "broken.py"
    broken.write_text(GOOD_MODULE + "def f(:\n")
    result = kfuzz("sign", keys / "signing_key.pem", good, broken)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"kfuzz: error: {broken}:4: syntax error")
    assert good.read_text() == before  # nothing is signed when one file is bad
    wrong_key = kfuzz("sign", keys / "signing_key.pub", good)
    assert wrong_key.exit_code == 2
    assert f"{keys / 'signing_key.pub'}: not an Ed25519 private key" in wrong_key.stderr
    assert good.read_text() == before
    assert kfuzz("sign", keys / "signing_key.pem").exit_code == 2  # no file


# -- fuzz: argument errors -----------------------------------------------------------------


def test_fuzz_missing_path(tmp_path: Path) -> None:
    result = kfuzz("fuzz", tmp_path / "nothere", "--max-examples", 1, "--no-db")
    assert result.exit_code == 2
    assert f"kfuzz: error: {tmp_path / 'nothere'}: no such module file or folder" in result.stderr


def test_fuzz_folder_without_modules(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = kfuzz("fuzz", tmp_path / "empty", "--max-examples", 1, "--no-db")
    assert result.exit_code == 2
    assert f"no module files in {tmp_path / 'empty'}" in result.stderr


def test_fuzz_bad_module_among_targets(tmp_path: Path) -> None:
    shutil.copy(BUGGY / "oobwrite.py", tmp_path / "oobwrite.py")
    (tmp_path / "broken.py").write_text(GOOD_MODULE + "\nif True\n")
    result = kfuzz("fuzz", tmp_path, "--max-examples", 1, "--no-db", "--reports", tmp_path / "r")
    assert result.exit_code == 2
    assert f"{tmp_path / 'broken.py'}:5: syntax error" in result.stderr
    assert not (tmp_path / "r").exists()


def test_fuzz_missing_module_path(tmp_path: Path) -> None:
    result = kfuzz("fuzz", BUGGY / "oobwrite.py", "--module-path", tmp_path / "nothere",
                   "--max-examples", 1, "--no-db", "--reports", tmp_path / "r")
    assert result.exit_code == 2
    assert "--module-path" in result.stderr and "no such folder" in result.stderr


def test_fuzz_bad_option_values() -> None:
    assert kfuzz("fuzz", "--max-examples", 0).exit_code == 2
    assert kfuzz("fuzz", "--isolation", "vm").exit_code == 2


# -- help ------------------------------------------------------------------------------------


def test_group_help_lists_every_command() -> None:
    result = kfuzz("--help")
    assert result.exit_code == 0
    for name in main.commands:
        assert re.search(rf"^\s+{name}\s", result.stdout, re.M), name
    assert kfuzz("-h").stdout == result.stdout
    assert "--version" in result.stdout


@pytest.mark.parametrize("command", sorted(main.commands))
def test_command_help_mentions_each_option(command: str) -> None:
    result = kfuzz(command, "--help")
    assert result.exit_code == 0, result.output
    assert f" {command} [OPTIONS]" in result.stdout.splitlines()[0]
    for param in main.commands[command].params:
        if isinstance(param, click.Option):
            for opt in param.opts:
                assert opt in result.stdout, (command, opt)
            assert param.help, (command, param.name)  # every option explains itself
        else:
            assert param.name.upper() in result.stdout, (command, param.name)


# -- the installed script, for real ---------------------------------------------------------


def kfuzz_script() -> str:
    script = shutil.which("kfuzz", path=str(Path(sys.executable).parent)) or shutil.which("kfuzz")
    if script is None:
        pytest.skip("the kfuzz script is not installed (pip install -e .)")
    return script


def test_script_exit_codes(tmp_path: Path) -> None:
    script = kfuzz_script()
    bad = subprocess.run([script, "replay", str(tmp_path / "nothere.kfz")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.startswith("kfuzz: error:") and bad.stdout == ""
    found = subprocess.run([script, "replay", "--json", str(BUGGY / "oobwrite.kfz")],
                           capture_output=True, text=True, timeout=60)
    assert found.returncode == 1, found.stderr
    assert json.loads(found.stdout)["title"] == OOB_TITLE


def test_script_fuzz_writes_a_report_that_replays(tmp_path: Path) -> None:
    script = kfuzz_script()
    reports = tmp_path / "reports"
    run = subprocess.run([script, "fuzz", str(BUGGY / "oobwrite.py"), "--module-path", str(TARGETS),
                          "--max-examples", "60", "--seed", "1", "--reports", str(reports), "--no-db"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    [folder] = [p for p in reports.iterdir() if p.is_dir()]
    assert folder.name.startswith("out-of-bounds-")
    assert sorted(p.name for p in folder.iterdir()) == ["report.json", "report.md", "repro.kfz",
                                                        "test_repro.py"]
    data = json.loads((folder / "report.json").read_text())
    assert data["title"] == OOB_TITLE and data["kind"] == "out-of-bounds"
    assert data["seed"] == 1 and data["count"] == 1
    # not on a terminal: plain lines, one per bug, that do not wrap at any width
    line = f"oobwrite: out-of-bounds: {OOB_TITLE} ({data['steps']} steps, reproduced 3/3) -> {folder}"
    assert run.stdout.count(line) == 2, run.stdout  # as it was reported, and in the summary
    replay = subprocess.run([script, "replay", "--json", str(folder)], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert replay.returncode == 1, replay.stderr
    assert json.loads(replay.stdout)["title"] == OOB_TITLE


# -- replay: repro files that people write, move and mail --------------------------------------


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report folder written by a short fuzzing run of oobwrite."""
    reports = tmp_path_factory.mktemp("fuzzed") / "reports"
    result = kfuzz("fuzz", BUGGY / "oobwrite.py", "--max-examples", "60", "--seed", "0", "--no-db",
                   "--reports", reports, "--module-path", TARGETS)
    assert result.exit_code == 1, result.output
    [folder] = [p for p in reports.iterdir() if p.is_dir()]
    return folder


def test_a_report_folder_mailed_with_its_module_replays_anywhere(
        report_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mailed = tmp_path / "inbox" / report_folder.name
    shutil.copytree(report_folder, mailed)
    shutil.copy(BUGGY / "oobwrite.py", mailed / "oobwrite.py")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = kfuzz("replay", "--json", mailed)
    assert result.exit_code == 1, result.output
    [record] = json_lines(result)
    assert record["title"] == OOB_TITLE and record["changed_modules"] == []


def test_replay_says_when_a_module_differs_from_the_reports(
        report_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mailed = tmp_path / report_folder.name
    shutil.copytree(report_folder, mailed)
    fixed = (BUGGY / "oobwrite.py").read_text() + "\n# fixed, perhaps\n"
    (mailed / "oobwrite.py").write_text(fixed)
    monkeypatch.chdir(tmp_path)
    result = kfuzz("replay", mailed)
    assert "oobwrite.py changed since the report" in " ".join(result.stdout.split()), result.stdout
    [record] = json_lines(kfuzz("replay", "--json", mailed))
    [changed] = record["changed_modules"]
    assert changed["path"].endswith("oobwrite.py") and changed["then"] != changed["now"]


def test_replay_finds_a_module_in_the_current_directory_then_on_the_module_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kfz = write_kfz(tmp_path / "r.kfz", "insmod oobwrite", "open /dev/oobwrite -> fd0",
                    'write fd0 "' + "A" * 70 + '"', modules=(Path("gone/oobwrite.py"),))
    monkeypatch.chdir(tmp_path)
    missing = kfuzz("replay", kfz)
    assert missing.exit_code == 2
    assert "r.kfz:2" in missing.stderr and "--module-path" in missing.stderr, missing.stderr
    found = kfuzz("replay", "--json", "--module-path", BUGGY, kfz)
    assert found.exit_code == 1 and json_lines(found)[0]["title"] == OOB_TITLE, found.output
    shutil.copy(BUGGY / "oobwrite.py", tmp_path / "cwd_copy.py")
    (tmp_path / "oobwrite.py").write_text((BUGGY / "oobwrite.py").read_text())
    sub = tmp_path / "repros"
    sub.mkdir()
    moved = kfz.rename(sub / "r.kfz")
    in_cwd = kfuzz("replay", "--json", moved)
    assert in_cwd.exit_code == 1 and json_lines(in_cwd)[0]["title"] == OOB_TITLE, in_cwd.output


@pytest.mark.parametrize("command", ["replay", "fuzz"])
def test_a_link_that_leads_nowhere_is_named_as_one(tmp_path: Path, command: str) -> None:
    loop = tmp_path / ("loop.kfz" if command == "replay" else "loop.py")
    loop.symlink_to(loop)
    result = kfuzz(command, loop)
    assert result.exit_code == 2
    assert f"{loop}: a symbolic link that leads nowhere" in result.stderr and "Traceback" not in result.output
