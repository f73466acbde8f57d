"""`kfuzz fuzz --workers N`: campaigns shared out among N pinned processes, one report
store and one display between them, and nothing lost or left behind when stopped."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from rich.console import Console
from test_unattended import SERIAL, TARGETS, UAF, children, read_until, report_folders, running, start_fuzz

from kfuzz.fuzz import BugRecord, Events, FuzzOptions, fuzz, resolve_targets
from kfuzz.fuzz.campaign import _interruption
from kfuzz.fuzz.events import BugFound, CampaignFinished, CampaignStarted, CaseDone, Counts, Event
from kfuzz.fuzz.gather import CampaignBugs, Gather
from kfuzz.fuzz.parallel import Campaign, Job, plan, usable_cpus
from kfuzz.fuzz.progress import Progress
from kfuzz.kernel import Finding, Kind
from kfuzz.prog import parse_op
from kfuzz.replay import replay_path
from kfuzz.stopping import Terminated

OOB = "KASAN: slab-out-of-bounds in oobwrite_write"
TWO_CPUS = pytest.mark.skipif(len(usable_cpus()) < 2, reason="needs two CPUs to pin to")


# -- scheduling ------------------------------------------------------------------------------

def test_more_targets_than_workers_share_them_out_with_the_run_seed() -> None:
    shares = plan(["a", "b", "c"], 2, seed=7, time_budget=60.0, max_examples=None)
    assert shares == [
        [Job("a", 7, 0, 30.0, None), Job("c", 7, 2, 30.0, None)],  # two targets: half the time each
        [Job("b", 7, 1, 60.0, None)],
    ]


def test_fewer_targets_than_workers_give_a_target_several_campaigns_seeded_apart() -> None:
    shares = plan(["a"], 3, seed=5, time_budget=None, max_examples=100)
    assert shares == [[Job("a", 5, 0, None, 34)], [Job("a", 6, 1, None, 33)], [Job("a", 7, 2, None, 33)]]
    shares = plan(["a", "b"], 3, seed=0, time_budget=20.0, max_examples=None)
    assert [(j.target, j.seed, j.campaign, j.time_budget) for [j] in shares] == [
        ("a", 0, 0, 20.0), ("b", 0, 1, 20.0), ("a", 1, 2, 20.0)]


# -- the display -----------------------------------------------------------------------------

class Quiet(Progress):
    def __init__(self) -> None:
        super().__init__(Console(quiet=True))


def test_the_display_adds_up_every_campaign_and_shows_a_bug_once() -> None:
    progress = Quiet()
    finding = Finding(Kind.OUT_OF_BOUNDS, OOB, "oobwrite", "oobwrite_write")
    events: list[Event] = [
        CampaignStarted("oobwrite", 0, 0), CampaignStarted("oobwrite", 1, 1),
        CaseDone("oobwrite", Counts(10, 100, 1.0), 0), CaseDone("oobwrite", Counts(20, 300, 1.0), 1),
        BugFound("oobwrite", finding, 3, Counts(11, 110, 1.0, 1), 0),
        BugFound("oobwrite", finding, 4, Counts(21, 310, 1.0, 1), 1),
    ]
    for event in events:
        progress(event)
    assert (progress.counts.cases, progress.counts.ops, progress.counts.bugs) == (32, 420, 1)
    assert progress.rate == 110 + 310
    assert progress.found == [("oobwrite", "out-of-bounds", OOB)]
    assert progress.status().startswith("2 campaigns (oobwrite): fuzzing, 32 test cases, 420 ops, 420 ops/s")
    progress(CampaignFinished("oobwrite", Counts(30, 400, 2.0), 0))
    assert progress.status().startswith("oobwrite: fuzzing, 51 test cases, 710 ops, 310 ops/s")


def test_a_single_process_run_adds_up_its_campaigns_one_after_another() -> None:
    progress = Quiet()
    for target, cases in (("a", 5), ("b", 7)):
        progress(CampaignStarted(target, 0))
        progress(CampaignFinished(target, Counts(cases, cases * 10, 1.0)))
    assert (progress.counts.cases, progress.counts.ops) == (12, 120)


def test_the_gathered_run_keeps_each_bug_once_with_its_best_record() -> None:
    seen: list[Event] = []
    gather = Gather(Events(seen.append))
    finding = Finding(Kind.OUT_OF_BOUNDS, OOB, "oobwrite", "oobwrite_write")
    other = Finding(Kind.OOPS, "BUG: kernel NULL pointer dereference in x_read", "x", "x_read")
    ops = [parse_op("insmod oobwrite"), parse_op("rmmod oobwrite")]
    gather.take(CaseDone("oobwrite", Counts(5, 50, 1.0), 1))
    gather.take(CampaignBugs("oobwrite", 1, [BugRecord(finding, ops, minimized=True, reproduced=3)]))
    gather.take(CampaignBugs("oobwrite", 0, [BugRecord(finding, ops[:1], minimized=False),
                                             BugRecord(other, ops)]))
    gather.take(CaseDone("oobwrite", Counts(7, 70, 1.0), 0))
    result = gather.result(False, 0)
    assert [(t, r.finding.title, r.minimized) for t, r in result.records] == [
        ("oobwrite", OOB, True), ("oobwrite", other.title, False)]
    assert (result.cases, result.ops) == (12, 120)
    assert len(seen) == 2  # the events went on to the listeners


def test_an_error_in_a_campaign_process_fails_the_run_with_its_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Campaign) -> list[BugRecord]:
        raise ValueError("a kfuzz bug")

    monkeypatch.setattr(Campaign, "run", broken)  # the campaign processes are forked with it
    targets, index = resolve_targets([TARGETS / "edu_pci.py"], TARGETS)
    opts = FuzzOptions(max_examples=5, db_dir=None, reports=tmp_path / "reports")
    result = fuzz(targets, index, opts, Events(), workers=2)
    assert len(result.failures) == 2 and all("ValueError: a kfuzz bug" in f for f in result.failures)


def test_a_campaign_process_that_dies_keeps_what_it_had_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    finding = Finding(kind="warning", title="WARNING in edu_ioctl", module="edu_pci", function="edu_ioctl")

    def found_then_killed(self: Campaign) -> list[BugRecord]:
        self.events.emit(BugFound(self.target, finding, 3, self.counts(), self.number))
        if self.number == 1:
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would, before its bugs are sent
        return []

    monkeypatch.setattr(Campaign, "run", found_then_killed)
    targets, index = resolve_targets([TARGETS / "edu_pci.py"], TARGETS)
    opts = FuzzOptions(max_examples=5, db_dir=None, reports=tmp_path / "reports")
    result = fuzz(targets, index, opts, Events(), workers=2)
    assert [(t, r.finding.title) for t, r in result.records] == [("edu_pci", finding.title)]
    [death] = result.failures
    assert "campaign 1: the campaign process died (exit status -9)" in death and "edu_pci (seed 1)" in death


# -- one report store, one example database --------------------------------------------------

def test_two_campaigns_finding_one_bug_make_one_report_folder(tmp_path: Path) -> None:
    targets, index = resolve_targets([TARGETS / "buggy" / "oobwrite.py"], TARGETS)
    seen: list[Event] = []
    opts = FuzzOptions(seed=3, max_examples=240, db_dir=None, reports=tmp_path / "reports")
    result = fuzz(targets, index, opts, Events(seen.append), workers=2)
    found_by = {e.campaign for e in seen if isinstance(e, BugFound) and e.finding.title == OOB}
    assert found_by == {0, 1}, "each campaign should find the bug on its own"
    assert {e.seed for e in seen if isinstance(e, CampaignStarted)} == {3, 4}
    [folder] = report_folders(tmp_path / "reports")
    data = json.loads((folder / "report.json").read_text())
    assert data["title"] == OOB and data["count"] == 1  # one run, one count
    assert data["seed"] == 3  # the run's seed, whichever campaign's repro it keeps
    assert data["minimized"] and data["reproduced"] == data["replays"] >= 3
    [(target, record)] = result.records  # one row in the summary too
    assert (target, record.finding.title, record.reported) == ("oobwrite", OOB, folder)
    assert result.cases == 240 and result.ops > result.cases  # every campaign's cases
    assert replay_path(folder).finding is not None


def test_campaigns_share_the_example_database(tmp_path: Path) -> None:
    targets, index = resolve_targets([TARGETS / "buggy" / "lockorder.py"], TARGETS)
    first_bug: dict[int, int] = {}

    def listen(event: Event) -> None:
        if isinstance(event, BugFound):
            first_bug.setdefault(event.campaign, event.counts.cases)

    for seed in (0, 10):
        first_bug.clear()
        opts = FuzzOptions(seed=seed, max_examples=600, db_dir=tmp_path / ".kfuzz",
                           reports=tmp_path / "reports")
        fuzz(targets, index, opts, Events(listen), workers=2)
        if seed == 0:
            assert first_bug, "the first run found nothing to remember"
    assert first_bug and all(at <= 2 for at in first_bug.values()), first_bug


def test_a_stop_that_hypothesis_turns_into_another_error_is_still_a_stop() -> None:
    stop = Terminated()
    try:
        try:
            raise stop
        except KeyboardInterrupt:
            raise AssertionError("state._runner is not None") from None  # as Hypothesis's handler does
    except AssertionError as err:
        assert _interruption(err) is stop
    assert _interruption(ValueError("a bug")) is None


# -- processes: pinned, stopped, never left behind ---------------------------------------------

def descendants(pid: int) -> dict[int, list[int]]:
    """The fuzzer's campaign processes, each with its kernel workers."""
    return {c: children(c) for c in children(pid)}


def wait_for_kernel_workers(proc, count: int) -> dict[int, list[int]]:  # noqa: ANN001 - a Popen
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        tree = descendants(proc.pid)
        if len(tree) == count and all(tree.values()):
            return tree
        time.sleep(0.05)
    pytest.fail(f"no {count} campaign processes with kernel workers: {descendants(proc.pid)}")


@TWO_CPUS
def test_each_campaign_and_its_kernel_worker_has_a_cpu_of_its_own(tmp_path: Path) -> None:
    proc = start_fuzz(tmp_path, TARGETS / "edu_pci.py", "--module-path", str(TARGETS),
                      "--time-budget", "120", "--workers", "2")
    try:
        tree = wait_for_kernel_workers(proc, 2)
        cpus = {campaign: os.sched_getaffinity(campaign) for campaign in tree}
        assert all(len(c) == 1 for c in cpus.values()) and len(set(map(frozenset, cpus.values()))) == 2, cpus
        for campaign, workers in tree.items():
            for worker in workers:
                assert os.sched_getaffinity(worker) == cpus[campaign]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out


def test_sigterm_to_the_group_stops_every_campaign_with_its_reports_written(tmp_path: Path) -> None:
    proc = start_fuzz(tmp_path, TARGETS / "buggy" / "usbuaf.py", "--module-path", str(TARGETS), SERIAL,
                      "--time-budget", "120", "--seed", "1", "--workers", "2")
    read_until(proc, "found ")
    tree = descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGTERM)
    signalled = time.monotonic()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out
    assert time.monotonic() - signalled < 5, "the run must end within 5 s of the signal"
    assert not any(running(p) for c, ws in tree.items() for p in (c, *ws))
    [folder] = report_folders(tmp_path / "reports")
    assert json.loads((folder / "report.json").read_text())["title"] == UAF


def test_ctrl_c_to_the_parent_alone_saves_every_campaigns_bugs(tmp_path: Path) -> None:
    proc = start_fuzz(tmp_path, TARGETS / "buggy" / "usbuaf.py", "--module-path", str(TARGETS), SERIAL,
                      "--time-budget", "120", "--seed", "1", "--workers", "2")
    read_until(proc, "found ")
    proc.send_signal(signal.SIGINT)  # the parent only: it tells its campaigns
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted: the reports above are complete" in out
    [folder] = report_folders(tmp_path / "reports")
    data = json.loads((folder / "report.json").read_text())
    assert data["title"] == UAF, data
    # replayed as it stands while the stop's seconds last, else kept as found
    # (Campaign.save_what_was_found): both are complete reports, and which one a run
    # gets depends on how loaded the machine is (a fresh kernel worker must start)
    if data["replays"]:
        assert data["reproduced"] == data["replays"] >= 3, data
    else:
        assert data["minimized"] is False and "usbuaf" in data["repro"], data


def test_no_campaign_or_kernel_worker_outlives_a_killed_fuzzer(tmp_path: Path) -> None:
    proc = start_fuzz(tmp_path, TARGETS / "buggy" / "usbuaf.py", "--module-path", str(TARGETS), SERIAL,
                      "--time-budget", "120", "--seed", "1", "--workers", "2")
    read_until(proc, "reported ")  # a report as found, written at once
    tree = wait_for_kernel_workers(proc, 2)
    proc.kill()  # the fuzzer alone, as the OOM killer would
    proc.wait(timeout=10)
    everyone = [p for c, ws in tree.items() for p in (c, *ws)]
    killed = time.monotonic()
    while any(running(p) for p in everyone) and time.monotonic() - killed < 1.0:
        time.sleep(0.02)
    assert not any(running(p) for p in everyone), "a campaign or kernel worker outlived its fuzzer"
    [folder] = report_folders(tmp_path / "reports")
    data = json.loads((folder / "report.json").read_text())
    assert data["title"] == UAF and data["count"] == 1
    outcome = replay_path(folder)
    assert outcome.finding is not None and outcome.finding.title == UAF
