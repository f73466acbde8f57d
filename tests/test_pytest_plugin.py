"""The kfuzz pytest plugin: the `kernel` fixture and assert_clean, in projects of their own (pytester)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kfuzz.cli import main
from kfuzz.testing import KernelRunner, assert_clean

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
BUGGY = ROOT / "target_modules" / "buggy"
OOB_TITLE = "KASAN: slab-out-of-bounds in oobwrite_write"
PLUGIN = ("-p", "kfuzz.pytest_plugin")  # the installed entry point loads it; this tree's may not be installed

TESTS = f'''
from kfuzz.testing import assert_clean

OVERFLOW = 'insmod oobwrite\\nopen /dev/oobwrite -> fd0\\nwrite fd0 "{"A" * 80}"\\n'


def test_a_clean_program(kernel):
    outcome = kernel.run("""
insmod oobwrite
open /dev/oobwrite -> fd0
write fd0 "hello"
read fd0 5
""")
    assert_clean(outcome)
    assert outcome.finding is None
    assert outcome.results == [
        {{"op": "insmod oobwrite", "result": 0}}, {{"op": "open /dev/oobwrite -> fd0", "result": "fd0"}},
        {{"op": 'write fd0 "hello"', "result": 5}}, {{"op": "read fd0 5", "result": '"hello"'}}]


def test_the_finding_is_named(kernel):
    finding = kernel.run(OVERFLOW).finding
    assert (finding.kind, finding.title, finding.module, finding.function) == (
        "out-of-bounds", "{OOB_TITLE}", "oobwrite", "oobwrite_write")


def test_assert_clean_fails_with_the_report(kernel):
    assert_clean(kernel.run(OVERFLOW))
'''


def oob_project(pytester: pytest.Pytester, folder: str = "mods") -> None:
    (pytester.path / folder).mkdir()
    shutil.copy(BUGGY / "oobwrite.py", pytester.path / folder / "oobwrite.py")


def test_the_fixture_in_a_project_of_its_own(pytester: pytest.Pytester) -> None:
    oob_project(pytester)
    pytester.makepyprojecttoml('[project]\nname = "mymods"\n\n[tool.kfuzz]\nmodule_path = "mods"\n')
    pytester.makepyfile(test_mods=TESTS)
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        f"E * AssertionError: {OOB_TITLE}: access out of bounds*",
        "E * out-of-bounds in oobwrite.oobwrite_write",
        "E * repro:",
        "E * insmod oobwrite",
        "E * traceback into module code:",
        "E * line 23, in oobwrite_write",
    ])


def test_the_ini_option_names_the_module_path(pytester: pytest.Pytester) -> None:
    oob_project(pytester, "drivers")
    pytester.makeini("[pytest]\nkfuzz_module_path = drivers\n")
    pytester.makepyfile(test_mods=TESTS)
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2, failed=1)


def test_the_kernel_table_applies(pytester: pytest.Pytester) -> None:
    oob_project(pytester)
    pytester.makepyprojecttoml('[tool.kfuzz]\nmodule_path = "mods"\n\n[tool.kfuzz.kernel]\n'
                               'modules_disabled = true\n')
    pytester.makepyfile(test_k='''
def test_loading_is_refused(kernel):
    assert kernel.run("insmod oobwrite").results == [{"op": "insmod oobwrite", "result": "-EPERM"}]
    # a program's own header wins over the table
    assert kernel.run("# kernel: modules_disabled=0\\ninsmod oobwrite").results[0]["result"] == 0
''')
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)


def test_a_header_finds_modules_beside_the_test_and_a_crash_is_a_finding(pytester: pytest.Pytester) -> None:
    shutil.copy(BUGGY / "crashioctl.py", pytester.path / "crashioctl.py")
    pytester.makepyfile(test_crash='''
def test_crash(kernel):
    outcome = kernel.run("# modules: crashioctl.py\\ninsmod crashioctl\\nopen /dev/crashioctl -> fd0\\n"
                         "ioctl fd0 0x6301 0")
    assert outcome.finding.kind == "crash"
    assert kernel.run("# modules: crashioctl.py\\ninsmod crashioctl").finding is None  # a new worker
''')
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)


def test_mistakes_are_named(pytester: pytest.Pytester) -> None:
    oob_project(pytester)
    pytester.makepyprojecttoml('[tool.kfuzz]\nmodule_path = "mods"\nop_timeout = "long"\n')
    pytester.makepyfile(test_bad='''
def test_uses_kernel(kernel):
    pass

def test_does_not(tmp_path):
    pass
''')
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=1, errors=1)  # a bad config fails only the tests that use it
    result.stdout.fnmatch_lines(["*pyproject.toml: [[]tool.kfuzz[]] op_timeout: expected a number of "
                                 "seconds, got 'long'*"])
    pytester.makepyprojecttoml('[tool.kfuzz]\nmodule_path = "mods"\n')
    pytester.makepyfile(test_bad='''
def test_typo(kernel):
    kernel.run("insmod oobwirte")
''')
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*kernel.run:1: module 'oobwirte' not found in *mods; fix: give its file*"])


def test_results_are_those_of_replay_json(tmp_path: Path) -> None:
    repro = BUGGY / "oobwrite.kfz"
    with KernelRunner(base_dir=tmp_path) as kernel:
        outcome = kernel.run_file(repro)
    replayed = json.loads(CliRunner().invoke(main, ["replay", "--json", str(repro)]).stdout)
    assert outcome.record == replayed
    assert (outcome.results, outcome.dmesg) == (replayed["results"], replayed["dmesg"])
    assert outcome.finding is not None and outcome.finding.title == replayed["title"] == OOB_TITLE
    with pytest.raises(AssertionError) as failed:
        assert_clean(outcome)
    assert str(failed.value).startswith(f"{OOB_TITLE}: {replayed['message']}\n")
    assert replayed["repro"].split("\n")[2] in str(failed.value)


def test_the_readme_example_passes(pytester: pytest.Pytester) -> None:
    readme = (ROOT / "README.md").read_text()
    example = readme.split("## Testing modules with pytest")[1].split("```python\n")[1].split("```")[0]
    pytester.makepyprojecttoml(f'[tool.kfuzz]\nmodule_path = "{ROOT / "target_modules"}"\n')
    pytester.makepyfile(test_readme=example)
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_a_reports_folder_of_before_the_plugin_gets_its_pytest_ini_renewed(tmp_path: Path) -> None:
    from kfuzz.kernel import Finding
    from kfuzz.report import ReportRecord, write_report
    from kfuzz.report.writer import OLD_PYTEST_INIS, PYTEST_INI

    (tmp_path / "pytest.ini").write_text(OLD_PYTEST_INIS[0])
    finding = Finding(kind="warning", title="WARNING: x", module="m", function="f", message="")
    write_report(tmp_path, ReportRecord.of(finding, "insmod m\n", 1), "2025-01-01T00:00:00+00:00")
    assert (tmp_path / "pytest.ini").read_text() == PYTEST_INI
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # a user's own is left alone
    write_report(tmp_path, ReportRecord.of(finding, "insmod m\n", 1), "2025-01-01T00:00:00+00:00")
    assert (tmp_path / "pytest.ini").read_text() == "[pytest]\n"


def test_kernel_run_takes_a_group_and_gives_its_schedule() -> None:
    # a read racing an unplug: the read takes the io mutex, the unplug runs first, the read
    # then sees the device gone; each task's result, and the preemption that fired
    with KernelRunner(module_path=ROOT / "target_modules") as kernel:
        outcome = kernel.run("insmod usbled\nplug usb 0fc5:1223 -> dev0\nopen /dev/usbled0 -> fd0\n"
                             "together\n  t1: read fd0 4\n  t2: unplug dev0\n"
                             "schedule: t1 at mutex_lock -> t2\n")
    assert_clean(outcome)
    group = outcome.results[-1]
    assert group == {"op": "together\n  t1: read fd0 4\n  t2: unplug dev0\nschedule: t1 at mutex_lock -> t2",
                     "result": ["-ENODEV", 0], "fired": ["t1 at mutex_lock -> t2"]}
