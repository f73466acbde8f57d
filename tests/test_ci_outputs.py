"""CI outputs of `kfuzz fuzz`: JUnit XML, SARIF, the step summary, the stats file, the baseline.

The JUnit file is validated against junit-10.xsd (the Jenkins xUnit schema pytest
checks its own --junitxml against) and the SARIF file against the SARIF 2.1.0 JSON
schema, both vendored in tests/data/, and against every property GitHub's "SARIF
support for code scanning" marks as required. One short in-process fuzzing run
(oobwrite, which has a bug, and ringdev, which has none) feeds most tests; the
others feed the outputs events by hand, with report folders written as the
fuzzer writes them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
import xmlschema
from test_cli import BUGGY, OOB_TITLE, TARGETS, kfuzz

from kfuzz.ci import Baseline, open_outputs
from kfuzz.ci.sarif import source_root
from kfuzz.ci.stats import StatsOutput
from kfuzz.fuzz import Events, progress
from kfuzz.fuzz.events import (
    BugFound,
    CampaignFinished,
    CampaignStarted,
    CaseDone,
    Counts,
    Event,
    Listener,
    ReportFailed,
    ReportWritten,
    RunFinished,
)
from kfuzz.fuzz.progress import Progress
from kfuzz.kernel import Finding, Kind
from kfuzz.kernel.findings import KINDS, FrameRef
from kfuzz.report import ReportRecord, write_report

DATA = Path(__file__).resolve().parent / "data"
JUNIT_XSD = xmlschema.XMLSchema(str(DATA / "junit-10.xsd"))
SARIF_SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
OOB_PY = BUGGY / "oobwrite.py"
RUN = ("--max-examples", 60, "--seed", 0, "--no-db", "--isolation", "inprocess", "--workers", 1,
       "--module-path", TARGETS)


def validate_sarif(log: dict) -> None:
    jsonschema.validators.validator_for(SARIF_SCHEMA)(SARIF_SCHEMA).validate(log)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short run of oobwrite (a bug) and ringdev (none) with every CI output."""
    out = tmp_path_factory.mktemp("ci")
    (out / "summary.md").write_text("# an earlier step's summary\n")
    result = kfuzz("fuzz", OOB_PY, TARGETS / "ringdev.py", *RUN, "--reports", out / "reports",
                   "--junit", out / "junit.xml", "--sarif", out / "kfuzz.sarif",
                   "--summary", out / "summary.md", "--stats", out / "stats.json")
    assert result.exit_code == 1, result.output  # a finding fails the run, as without the flags
    return out


def the_report(out: Path) -> dict:
    [folder] = [p for p in (out / "reports").iterdir() if p.is_dir() and not p.name.startswith(".")]
    return json.loads((folder / "report.json").read_text()) | {"folder": folder}


def test_the_validators_refuse_what_the_schemas_forbid(fuzzed: Path) -> None:
    """So that a passing validation means something."""
    junit = (fuzzed / "junit.xml").read_text()
    assert JUNIT_XSD.is_valid(junit)
    assert not JUNIT_XSD.is_valid(junit.replace('<testcase classname', '<testcase bogus="1" classname', 1))
    assert not JUNIT_XSD.is_valid(junit.replace(' tests="2"', "", 2))  # a required attribute
    log = json.loads((fuzzed / "kfuzz.sarif").read_text())
    for broken in ({**log, "version": "2.0.0"}, {k: v for k, v in log.items() if k != "runs"}):
        with pytest.raises(jsonschema.ValidationError):
            validate_sarif(broken)


# -- JUnit -------------------------------------------------------------------------------------


def test_junit_is_valid_and_has_a_test_case_per_module(fuzzed: Path) -> None:
    JUNIT_XSD.validate(str(fuzzed / "junit.xml"))
    suite = ET.parse(fuzzed / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"oobwrite", "ringdev"}
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    assert all(float(case.get("time") or "") > 0 for case in cases.values())
    assert cases["ringdev"].find("failure") is None
    [failure] = cases["oobwrite"].findall("failure")
    report = the_report(fuzzed)
    assert (failure.get("message"), failure.get("type")) == (OOB_TITLE, "out-of-bounds")
    body = failure.text or ""
    assert report["repro"].strip() in body and str(report["folder"]) in body
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert (props["test_cases"], props["workers"]) == ("120", "1")


def test_junit_holds_several_failures_in_one_test_case(tmp_path: Path) -> None:
    [junit] = open_outputs(junit=tmp_path / "j.xml")
    feed(junit, tmp_path, [bug("first bug in m_read", Kind.OOPS), bug("second bug in m_write", Kind.HANG)])
    JUNIT_XSD.validate(str(tmp_path / "j.xml"))
    [case] = ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
    assert [(f.get("message"), f.get("type")) for f in case.findall("failure")] == [
        ("first bug in m_read", "oops"), ("second bug in m_write", "hang")]


def test_junit_stays_valid_with_characters_xml_cannot_hold(tmp_path: Path) -> None:
    [junit] = open_outputs(junit=tmp_path / "j.xml")
    feed(junit, tmp_path, [bug("WARNING: bad \x01 byte <&> in m_read", Kind.WARNING)])
    JUNIT_XSD.validate(str(tmp_path / "j.xml"))
    [failure] = ET.parse(tmp_path / "j.xml").getroot().iter("failure")
    assert failure.get("message") == "WARNING: bad \ufffd byte <&> in m_read"


def test_a_finding_whose_report_was_not_written_is_in_every_output(tmp_path: Path) -> None:
    outputs = open_outputs(junit=tmp_path / "j.xml", sarif=tmp_path / "s.sarif", summary=tmp_path / "s.md")
    lost = bug("oops in m_ioctl", Kind.OOPS, line=7)
    feed(Events(*outputs).emit, tmp_path, [], lost=(lost,))
    [failure] = ET.parse(tmp_path / "j.xml").getroot().iter("failure")
    assert "insmod m" in (failure.text or "") and "disk full" in (failure.text or "")
    [result] = json.loads((tmp_path / "s.sarif").read_text())["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 7  # the finding's own site
    assert "not written: cannot write: disk full" in (tmp_path / "s.md").read_text()


# -- SARIF -------------------------------------------------------------------------------------

# Every property GitHub's "SARIF support for code scanning" marks as required, by object:
# sarifLog: $schema, version, runs[]; run: tool.driver, results[]; toolComponent: name, rules[];
# reportingDescriptor: id, shortDescription.text, fullDescription.text, help.text;
# result: message.text, locations[], partialFingerprints (GitHub reads primaryLocationLineHash only);
# location: physicalLocation; physicalLocation: artifactLocation.uri, region.startLine,
# region.startColumn, region.endLine, region.endColumn.
REQUIRED_LOG = ["$schema", "version", "runs"]
REQUIRED_RUN = ["tool.driver", "results"]
REQUIRED_DRIVER = ["name", "rules"]
REQUIRED_RULE = ["id", "shortDescription.text", "fullDescription.text", "help.text"]
REQUIRED_RESULT = ["message.text", "locations", "partialFingerprints.primaryLocationLineHash"]
REQUIRED_LOCATION = ["physicalLocation.artifactLocation.uri", "physicalLocation.region.startLine",
                     "physicalLocation.region.startColumn", "physicalLocation.region.endLine",
                     "physicalLocation.region.endColumn"]


def get(obj: dict, dotted: str) -> object:
    for key in [dotted] if dotted in obj else dotted.split("."):
        assert isinstance(obj, dict) and key in obj, f"{dotted} missing"
        obj = obj[key]
    assert obj not in ("", None, []) or dotted == "results", f"{dotted} is empty"
    return obj


def assert_github_required(log: dict) -> None:
    for key in REQUIRED_LOG:
        get(log, key)
    assert log["version"] == "2.1.0"
    for run in log["runs"]:
        for key in REQUIRED_RUN:
            get(run, key)
        driver = run["tool"]["driver"]
        for key in REQUIRED_DRIVER:
            get(driver, key)
        for rule in driver["rules"]:
            for key in REQUIRED_RULE:
                get(rule, key)
        for result in run["results"]:
            for key in REQUIRED_RESULT:
                get(result, key)
            for location in result["locations"]:
                for key in REQUIRED_LOCATION:
                    get(location, key)


def test_sarif_is_valid_and_has_what_github_requires(fuzzed: Path) -> None:
    log = json.loads((fuzzed / "kfuzz.sarif").read_text())
    validate_sarif(log)
    assert_github_required(log)


def test_sarif_has_one_rule_per_kind_and_a_result_per_finding(fuzzed: Path) -> None:
    [run] = json.loads((fuzzed / "kfuzz.sarif").read_text())["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(KINDS)
    [result] = run["results"]
    assert (result["ruleId"], result["message"]["text"]) == ("out-of-bounds", OOB_TITLE)
    assert rules[result["ruleIndex"]]["id"] == "out-of-bounds"


def test_sarif_location_is_the_guilty_line_relative_to_the_repository(fuzzed: Path) -> None:
    [result] = json.loads((fuzzed / "kfuzz.sarif").read_text())["runs"][0]["results"]
    site = the_report(fuzzed)["site"]
    [location] = result["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == OOB_PY.relative_to(source_root()).as_posix()
    region = physical["region"]
    assert region["startLine"] == region["endLine"] == site["line"]
    line = OOB_PY.read_text().splitlines()[site["line"] - 1]
    assert line[region["startColumn"] - 1:region["endColumn"] - 1] == line.strip()
    assert "mbox[0:len(data)]" in line and site["function"] == "oobwrite_write"


def test_sarif_outside_a_repository_is_relative_to_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert source_root() == tmp_path.resolve()
    [sarif] = open_outputs(sarif=tmp_path / "out.sarif")
    feed(sarif, tmp_path, [bug("KASAN: use-after-free in m_read", Kind.USE_AFTER_FREE, line=3)])
    log = json.loads((tmp_path / "out.sarif").read_text())
    validate_sarif(log)
    [result] = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "src/m.py"


def test_sarif_fingerprint_comes_from_the_title_only(tmp_path: Path) -> None:
    def prints(title: str, line: int, where: str) -> dict:
        [sarif] = open_outputs(sarif=tmp_path / f"{where}.sarif")
        feed(sarif, tmp_path / where, [bug(title, Kind.OOPS, line=line)])
        [result] = json.loads((tmp_path / f"{where}.sarif").read_text())["runs"][0]["results"]
        return result["partialFingerprints"]

    first = prints("oops in m_read", 3, "a")
    assert prints("oops in m_read", 7, "b") == first  # the bug's line moved: the same alert
    assert prints("oops in m_write", 3, "c")["primaryLocationLineHash"] != first["primaryLocationLineHash"]


def test_a_bug_met_through_two_targets_is_one_sarif_result(tmp_path: Path) -> None:
    [sarif] = open_outputs(sarif=tmp_path / "s.sarif")
    for target in ("a", "b"):  # both load m, whose bug it is
        sarif(CampaignStarted(target, 0))
        sarif(BugFound(target, bug("oops in m_read", Kind.OOPS), 2, Counts()))
    sarif(RunFinished(Counts(), interrupted=False))
    log = json.loads((tmp_path / "s.sarif").read_text())
    validate_sarif(log)
    assert [r["properties"]["module"] for r in log["runs"][0]["results"]] == ["a"]


# -- summary and stats -----------------------------------------------------------------------


def test_summary_is_appended_with_findings_links_and_figures(fuzzed: Path) -> None:
    text = (fuzzed / "summary.md").read_text()
    assert text.startswith("# an earlier step's summary\n## ❌ kfuzz fuzz: 1 new finding\n")
    report = the_report(fuzzed)
    [row] = [line for line in text.splitlines() if "slab-out-of-bounds" in line]
    assert row.startswith("| **new** | oobwrite | out-of-bounds | "
                          "KASAN: slab-out-of-bounds in oobwrite\\_write |")
    link = row.split("](")[1].split(")")[0]
    assert Path(link) == Path(report["folder"]) / "report.md" and Path(link).is_file()
    assert "| ringdev | 60 |" in text
    assert "**2 modules**, 120 test cases" in text and "1 worker." in text


def test_summary_escapes_markdown_in_titles(tmp_path: Path) -> None:
    [summary] = open_outputs(summary=tmp_path / "s.md")
    feed(summary, tmp_path, [bug("WARNING: a|b *c* [d] in m_read", Kind.WARNING)])
    text = (tmp_path / "s.md").read_text()
    assert "| WARNING: a\\|b \\*c\\* \\[d\\] in m\\_read |" in text


def test_summary_in_github_actions_links_the_runs_artifacts(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("GITHUB_SERVER_URL", "https://github.com"), ("GITHUB_REPOSITORY", "o/r"),
                        ("GITHUB_RUN_ID", "42")):
        monkeypatch.setenv(name, value)
    [summary] = open_outputs(summary=tmp_path / "s.md")
    feed(summary, tmp_path, [bug("oops in m_read", Kind.OOPS)])
    assert "in the artifacts of [this run](https://github.com/o/r/actions/runs/42)" in (
        tmp_path / "s.md").read_text()


def test_stats_hold_the_runs_figures(fuzzed: Path) -> None:
    stats = json.loads((fuzzed / "stats.json").read_text())
    assert stats["test_cases"] == 120 and stats["operations"] > 120 and stats["seconds"] > 0
    assert (stats["workers"], stats["findings"], stats["running"]) == (1, {"out-of-bounds": 1}, False)
    assert not [p for p in fuzzed.iterdir() if p.name.endswith(".tmp")]


def test_stats_are_rewritten_every_ten_seconds_as_the_run_goes(tmp_path: Path) -> None:
    now = [100.0]
    stats = StatsOutput(tmp_path / "stats.json", clock=lambda: now[0])

    def case(t: float, cases: int) -> dict:
        now[0] = t
        stats(CaseDone("m", Counts(cases, cases * 5, t - 100.0, 0)))
        return json.loads((tmp_path / "stats.json").read_text())

    stats(CampaignStarted("m", 0))
    assert json.loads((tmp_path / "stats.json").read_text())["test_cases"] == 0
    assert case(105.0, 3)["test_cases"] == 0  # not ten seconds yet
    now_seen = case(110.0, 7)
    assert (now_seen["test_cases"], now_seen["operations"], now_seen["running"]) == (7, 35, True)
    now[0] = 112.0
    stats(RunFinished(Counts(8, 40, 12.0, 0), interrupted=False))
    final = json.loads((tmp_path / "stats.json").read_text())
    assert (final["test_cases"], final["seconds"], final["running"]) == (8, 12.0, False)
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]  # no temporary file left


def test_an_interrupted_run_still_writes_every_output(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    class CtrlCAtTheFirstBug(Progress):
        def __call__(self, event: Event) -> None:
            super().__call__(event)
            if isinstance(event, BugFound):
                raise KeyboardInterrupt  # as Ctrl-C would, in the middle of the search

    monkeypatch.setattr(progress, "make_progress", CtrlCAtTheFirstBug)
    result = kfuzz("fuzz", OOB_PY, TARGETS / "ringdev.py", *RUN, "--reports", tmp_path / "reports",
                   "--junit", tmp_path / "j.xml", "--sarif", tmp_path / "s.sarif",
                   "--stats", tmp_path / "st.json")
    assert result.exit_code == 130, result.output
    JUNIT_XSD.validate(str(tmp_path / "j.xml"))
    [case] = ET.parse(tmp_path / "j.xml").getroot().iter("testcase")  # ringdev never started
    assert case.get("name") == "oobwrite" and case.find("failure") is not None
    assert "interrupted before its budget was spent" in (case.findtext("system-out") or "")
    log = json.loads((tmp_path / "s.sarif").read_text())
    validate_sarif(log)
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is False
    assert [r["message"]["text"] for r in log["runs"][0]["results"]] == [OOB_TITLE]
    stats = json.loads((tmp_path / "st.json").read_text())
    assert (stats["interrupted"], stats["running"], stats["findings"]) == (True, False, {"out-of-bounds": 1})


# -- the baseline ------------------------------------------------------------------------------


def test_a_finding_in_the_baseline_is_known_and_does_not_fail_the_run(fuzzed: Path, tmp_path: Path) -> None:
    result = kfuzz("fuzz", OOB_PY, *RUN, "--reports", tmp_path / "reports", "--baseline", fuzzed / "reports",
                   "--junit", tmp_path / "j.xml", "--sarif", tmp_path / "s.sarif",
                   "--summary", tmp_path / "s.md", "--stats", tmp_path / "stats.json")
    assert result.exit_code == 0, result.output
    assert f"known (in --baseline {fuzzed / 'reports'}): {OOB_TITLE}" in result.stdout
    JUNIT_XSD.validate(str(tmp_path / "j.xml"))
    junit = ET.parse(tmp_path / "j.xml").getroot()
    assert junit.find(".//failure") is None
    assert f"known (in the baseline): out-of-bounds: {OOB_TITLE}" in (junit.findtext(".//system-out") or "")
    log = json.loads((tmp_path / "s.sarif").read_text())
    validate_sarif(log)
    [found] = log["runs"][0]["results"]
    assert found["baselineState"] == "unchanged"
    assert "| known | oobwrite |" in (tmp_path / "s.md").read_text()
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert (stats["findings"], stats["new_findings"]) == ({"out-of-bounds": 1}, {})


def test_a_finding_not_in_the_baseline_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "main").mkdir()  # main has no finding
    result = kfuzz("fuzz", OOB_PY, *RUN, "--reports", tmp_path / "reports", "--baseline", tmp_path / "main",
                   "--sarif", tmp_path / "s.sarif")
    assert result.exit_code == 1, result.output
    [found] = json.loads((tmp_path / "s.sarif").read_text())["runs"][0]["results"]
    assert found["baselineState"] == "new"


def test_baseline_reads_titles_and_skips_what_is_not_a_report(tmp_path: Path) -> None:
    feed(None, tmp_path, [bug("oops in m_read", Kind.OOPS)])  # a report folder
    (tmp_path / "reports" / "notes").mkdir()
    (tmp_path / "reports" / ".corrupt-1-x").mkdir()
    assert Baseline.load(tmp_path / "reports").titles == {"oops in m_read"}


@pytest.mark.parametrize("flag", ["--junit", "--sarif", "--summary", "--stats", "--baseline"])
def test_a_ci_path_that_cannot_be_used_is_bad_input(flag: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    bad = tmp_path / ("nothere" if flag == "--baseline" else "file/out")
    result = kfuzz("fuzz", OOB_PY, *RUN, "--reports", tmp_path / "reports", flag, bad)
    assert result.exit_code == 2
    assert result.output.startswith(f"kfuzz: error: {flag} {bad}: ")
    assert "test cases" not in result.output  # nothing ran


# -- events by hand --------------------------------------------------------------------------------


def bug(title: str, kind: Kind, line: int = 2) -> Finding:
    return Finding(kind, title, "m", title.split()[-1],
                   site=FrameRef("src/m.py", line, title.split()[-1]), traceback=["  File ...\n"])


def feed(listener: Listener | None, root: Path, findings: list[Finding],
         lost: tuple[Finding, ...] = ()) -> None:
    """A campaign of module m (ROOT/src/m.py) that finds FINDINGS, each written to
    ROOT/reports as the fuzzer writes it and told to LISTENER as the fuzzer tells it,
    and LOST, whose report folders could not be written."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "m.py").write_text("from kfuzz.kapi import *\n\n    bad_line(here)  \nx = 1\n" * 3)
    tell: Listener = listener or (lambda event: None)
    tell(CampaignStarted("m", 0))
    for n, found in enumerate([*findings, *lost], 1):
        assert found.site is not None  # as the kernel gives it: the module file's path
        finding = replace(found, site=replace(found.site, file=str(root / found.site.file)))
        tell(BugFound("m", finding, 3, Counts(n, 10 * n, 0.1 * n, n)))
        if found in lost:
            tell(ReportFailed("m", finding.title, str(finding.kind), "insmod m\n", "cannot write: disk full"))
            continue
        record = ReportRecord.of(finding, "insmod m\n", 1)
        folder = write_report(root / "reports", record, "2026-01-01T00:00:00")
        tell(ReportWritten("m", finding.title, str(finding.kind), 1, 3, 3, True, folder))
    counts = Counts(5, 50, 0.5, len(findings) + len(lost))
    tell(CampaignFinished("m", counts))
    tell(RunFinished(counts, interrupted=False))


def test_check_writes_the_same_ci_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = kfuzz("check", BUGGY / "leakinit.py", TARGETS / "ringbuf.py", "--module-path", TARGETS,
                   "--fuzz-examples", 0, "--reports", tmp_path / "reports", "--junit", out / "j.xml",
                   "--sarif", out / "s.sarif", "--stats", out / "stats.json")
    assert result.exit_code == 1, result.output
    JUNIT_XSD.validate(str(out / "j.xml"))
    cases = {c.get("name"): c for c in ET.parse(out / "j.xml").getroot().iter("testcase")}
    assert set(cases) == {"leakinit", "ringbuf"}
    assert [f.get("message") for f in cases["leakinit"].iter("failure")] == ["memory leak in leakinit_init"]
    assert not list(cases["ringbuf"].iter("failure"))
    sarif = json.loads((out / "s.sarif").read_text())
    validate_sarif(sarif)
    assert [r["message"]["text"] for r in sarif["runs"][0]["results"]] == ["memory leak in leakinit_init"]
    # the finding known to main's reports: the check passes
    known = kfuzz("check", BUGGY / "leakinit.py", "--module-path", TARGETS, "--fuzz-examples", 0,
                  "--reports", tmp_path / "again", "--baseline", tmp_path / "reports")
    assert known.exit_code == 0, known.output


def test_two_campaigns_of_one_module_are_one_test_case(tmp_path: Path) -> None:
    run = [a for a in RUN if a not in ("inprocess",)]
    run[run.index("--isolation") + 1:run.index("--isolation") + 1] = ["fork"]
    run[run.index("--workers") + 1] = 2
    result = kfuzz("fuzz", OOB_PY, *run, "--reports", tmp_path / "reports", "--junit", tmp_path / "j.xml",
                   "--stats", tmp_path / "st.json")
    assert result.exit_code == 1, result.output
    JUNIT_XSD.validate(str(tmp_path / "j.xml"))
    [case] = ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
    assert [f.get("message") for f in case.iter("failure")] == [OOB_TITLE]  # found by both, said once
    stats = json.loads((tmp_path / "st.json").read_text())
    assert (stats["workers"], stats["test_cases"], stats["findings"]) == (2, 60, {"out-of-bounds": 1})


def test_a_check_that_fails_without_a_finding_fails_its_test_case(tmp_path: Path) -> None:
    result = kfuzz("check", TARGETS / "ringbuf.py", "--module-path", TARGETS, "--fuzz-examples", 0,
                   "--require-signature", "--reports", tmp_path / "reports", "--junit", tmp_path / "j.xml",
                   "--summary", tmp_path / "s.md")
    assert result.exit_code == 1, result.output
    JUNIT_XSD.validate(str(tmp_path / "j.xml"))
    [case] = ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
    [failure] = case.iter("failure")
    assert failure.get("type") == "check" and failure.get("message", "").startswith("signature: ")
    summary = (tmp_path / "s.md").read_text()
    assert "1 check failed" in summary and "| ringbuf | signature |" in summary
