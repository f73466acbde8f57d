"""`--junit FILE`: the run as JUnit XML, valid under the Jenkins xUnit junit-10.xsd.

One test case per module fuzzed or checked, with the time its campaign took; a
`failure` per new finding (the title as message, the kind as type, the repro and
the report folder in the body; the schema allows several in one test case).
Known findings (in the baseline) do not fail the test case: its system-out lists them.
"""

from __future__ import annotations

import platform
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..fuzz.events import Counts
from .files import atomic_write
from .runlog import Found, ModuleRun, RunLog

# characters XML 1.0 cannot hold, even escaped (module strings can reach a title or repro)
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def seconds(value: float) -> str:
    """A time as junit-10.xsd's SUREFIRE_TIME has it: at most three decimals."""
    return f"{max(value, 0.0):.3f}"


def failure_body(found: Found) -> str:
    lines = []
    if found.folder is not None:
        lines.append(f"report: {found.folder}")
    if found.unwritten:
        lines.append(f"report not written: {found.unwritten}")
    record = found.record
    if record is not None:
        lines.append(f"module: {record.module}, function: {record.function}")
        if record.minimized:
            lines.append(f"reproduced {record.reproduced}/{record.replays} times, {record.steps} steps")
        if record.message:
            lines += ["", record.message]
    lines += ["", "repro (kfuzz replay it):", found.repro_text.rstrip("\n")]
    if record is not None and record.traceback:
        lines += ["", *[line.rstrip("\n") for line in record.traceback]]
    return xml_text("\n".join(lines)) + "\n"


def testcase(run: ModuleRun, command: str) -> ET.Element:
    case = ET.Element("testcase", classname=f"kfuzz.{command}", name=xml_text(run.name),
                      time=seconds(run.counts.seconds))
    for found in run.found.values():
        if not found.known:
            failure = ET.SubElement(case, "failure", message=xml_text(found.title), type=found.kind)
            failure.text = failure_body(found)
    for check, detail in run.checks_failed:  # kfuzz check's lines that failed without a finding
        failure = ET.SubElement(case, "failure", message=xml_text(f"{check}: {detail}"), type="check")
        failure.text = xml_text(f"the check '{check}' failed: {detail}") + "\n"
    out = [f"{run.counts.cases} test cases, {run.counts.ops} operations, {run.counts.seconds:.1f} s"]
    if not run.finished:
        out.append("interrupted before its budget was spent")
    out += [f"known (in the baseline): {f.kind}: {f.title}" for f in run.found.values() if f.known]
    ET.SubElement(case, "system-out").text = xml_text("\n".join(out)) + "\n"
    return case


def junit_xml(log: RunLog) -> str:
    figures: Counts = log.figures()
    cases = [testcase(run, log.command) for run in log.modules.values()]
    failed = sum(1 for case in cases if case.find("failure") is not None)
    attrs = {"tests": str(len(cases)), "failures": str(failed), "errors": "0",
             "time": seconds(figures.seconds)}
    root = ET.Element("testsuites", {"name": "kfuzz", **attrs})
    suite = ET.SubElement(root, "testsuite", {"name": f"kfuzz {log.command}", "skipped": "0",
                                              "timestamp": log.started_at,
                                              "hostname": platform.node() or "localhost", **attrs})
    props = ET.SubElement(suite, "properties")
    for name, value in (("test_cases", figures.cases), ("operations", figures.ops), ("workers", log.workers),
                        ("interrupted", str(log.interrupted).lower()),
                        ("baseline", log.baseline.folder or "")):
        ET.SubElement(props, "property", name=name, value=str(value))
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


class JunitOutput(RunLog):
    def __init__(self, path: Path, **kw):  # noqa: ANN003 - RunLog's
        super().__init__(**kw)
        self.path = path

    def finish(self) -> None:
        atomic_write(self.path, junit_xml(self))
