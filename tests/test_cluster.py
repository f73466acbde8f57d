"""Campaigns on a Dask LocalCluster of two processes: the same bugs as a local run,
nothing lost to a killed worker, and a Redis corpus shared by the runs."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_fuzz import TARGETS, Quiet

from kfuzz.cluster import fuzz_on_cluster
from kfuzz.fuzz import Events, FuzzOptions, fuzz, resolve_targets
from kfuzz.fuzz.events import BugFound, Event
from kfuzz.report import read_report

distributed = pytest.importorskip("distributed")

BUGGY = [TARGETS / "buggy" / "warnon.py", TARGETS / "buggy" / "lockorder.py"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    import dask

    with dask.config.set({"distributed.worker.daemon": False}):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=":0") as local:
            yield local.scheduler_address


def options(tmp_path: Path, **kw) -> FuzzOptions:
    return FuzzOptions(**{"seed": 0, "max_examples": 150, "db_dir": None, "reports": tmp_path, **kw})


def folders(reports: Path) -> dict[str, dict]:
    return {p.name: data for p in reports.iterdir() if p.is_dir() and (data := read_report(p)) is not None}


def test_a_cluster_run_reports_the_bugs_a_local_run_does(cluster: str, tmp_path: Path) -> None:
    targets, index = resolve_targets(BUGGY, TARGETS)
    remote = fuzz_on_cluster(cluster, targets, index, options(tmp_path / "cluster"), Events(Quiet()))
    assert not remote.failures and not remote.interrupted
    # the same campaigns on two local worker processes: the cluster has two worker processes
    local = fuzz(targets, index, options(tmp_path / "local"), Events(Quiet()), "fork", 2)
    titles = {bug.finding.title for _, bug in local.records}
    assert {bug.finding.title for _, bug in remote.records} == titles
    here, there = folders(tmp_path / "local"), folders(tmp_path / "cluster")
    assert here.keys() == there.keys() and len(here) == len(titles)
    for name, data in here.items():
        other = there[name]
        # the same record: module paths and digests as the client has them, the same repro
        assert (other["title"], other["kind"], other["modules"], other["minimized"]) == \
               (data["title"], data["kind"], data["modules"], True)
        assert (tmp_path / "cluster" / name / "repro.kfz").read_text() == other["repro"]


class KillOnFirstBug:
    """Kills the worker process running the campaign when its first bug is seen here."""

    def __init__(self, client: distributed.Client) -> None:
        self.client = client
        self.killed: int | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, BugFound) and self.killed is None:
            busy = self.client.processing()
            pids = self.client.run(os.getpid)  # the worker processes, by address
            addr = next(a for a, keys in busy.items() if keys)
            self.killed = pids[addr]
            os.kill(self.killed, signal.SIGKILL)


def test_a_worker_killed_mid_campaign_changes_nothing_in_the_reports(cluster: str, tmp_path: Path) -> None:
    targets, index = resolve_targets(BUGGY[:1], TARGETS)
    calm = fuzz_on_cluster(cluster, targets, index, options(tmp_path / "calm", seed=3), Events(Quiet()))
    with distributed.Client(cluster) as client:
        killer = KillOnFirstBug(client)
        hit = fuzz_on_cluster(cluster, targets, index, options(tmp_path / "hit", seed=3), Events(killer))
    assert killer.killed is not None
    assert not hit.failures, hit.failures
    assert {b.finding.title for _, b in hit.records} == {b.finding.title for _, b in calm.records}
    before, after = folders(tmp_path / "calm"), folders(tmp_path / "hit")
    assert before.keys() == after.keys()
    for name, data in before.items():
        assert (after[name]["count"], after[name]["repro"]) == (data["count"], data["repro"])


def test_the_redis_corpus_replays_a_bug_found_elsewhere_first_on_the_cluster(
        cluster: str, fresh_redis: str, tmp_path: Path) -> None:
    targets, index = resolve_targets([TARGETS / "buggy" / "lockorder.py"], TARGETS)
    firsts = []
    for where in ("here", "cluster"):  # one machine finds it, the cluster's campaigns replay it
        seen: list[int] = []

        def first(event: Event, seen: list[int] = seen) -> None:
            if isinstance(event, BugFound):
                seen.append(event.counts.cases)

        opts = options(tmp_path / where, seed=0 if where == "here" else 10, max_examples=400,
                       db_url=fresh_redis)
        if where == "here":
            fuzz(targets, index, opts, Events(first))
        else:
            fuzz_on_cluster(cluster, targets, index, opts, Events(first))
        firsts.append(min(seen))
    assert firsts[0] > 5 and firsts[1] <= 2, firsts


def test_ctrl_c_stops_every_task_and_keeps_what_was_found(cluster: str, tmp_path: Path) -> None:
    class CtrlCAtTheFirstBug:
        pressed = False

        def __call__(self, event: Event) -> None:
            if isinstance(event, BugFound) and not self.pressed:
                self.pressed = True  # once: a second campaign's find comes during the stop
                raise KeyboardInterrupt  # as Ctrl-C would, in the client's loop

    targets, index = resolve_targets([TARGETS / "buggy" / "lockorder.py"], TARGETS)
    started = time.monotonic()
    result = fuzz_on_cluster(cluster, targets, index, options(tmp_path, max_examples=5000),
                             Events(CtrlCAtTheFirstBug()))
    assert result.interrupted and time.monotonic() - started < 60
    assert result.records and folders(tmp_path)  # the bug, on disk
    with distributed.Client(cluster) as client:  # no task goes on fuzzing for nobody
        deadline = time.monotonic() + 20
        while any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(client.processing().values())


def test_a_cluster_of_threaded_workers_is_refused(tmp_path: Path) -> None:
    from kfuzz.cluster.client import ClusterError

    targets, index = resolve_targets(BUGGY[:1], TARGETS)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=":0") as local:
        with pytest.raises(ClusterError, match="runs 2 threads; a campaign needs a process of its own"):
            fuzz_on_cluster(local.scheduler_address, targets, index, options(tmp_path), Events())


def test_cluster_flags_it_cannot_honour_are_bad_input(tmp_path: Path) -> None:
    from test_cli import kfuzz

    base = ("fuzz", BUGGY[0], "--cluster", "tcp://127.0.0.1:1", "--reports", tmp_path / "r")
    workers = kfuzz(*base, "--workers", 2)
    assert workers.exit_code == 2 and "leave out --workers" in workers.stderr
    folder = kfuzz(*base, "--db", tmp_path / "db")
    assert folder.exit_code == 2 and "a folder stays on this machine" in folder.stderr
    inproc = kfuzz(*base, "--isolation", "inprocess")
    assert inproc.exit_code == 2 and "leave out --isolation inprocess" in inproc.stderr
    nobody = kfuzz(*base)
    assert nobody.exit_code == 2 and "cannot reach a Dask scheduler" in nobody.stderr


def test_the_keyring_goes_with_the_tasks_and_reports_name_the_clients(cluster: str, tmp_path: Path) -> None:
    import shutil

    from kfuzz.kernel.signing import keygen, sign_file

    priv, pub = keygen(tmp_path / "keys")
    mods = tmp_path / "mods"
    mods.mkdir()
    shutil.copy(BUGGY[0], mods / "warnon.py")
    sign_file(priv, mods / "warnon.py")
    targets, index = resolve_targets([mods / "warnon.py"], mods)
    settings = {"autoload": "1", "sig_enforce": "1", "keyring": str(pub)}
    result = fuzz_on_cluster(cluster, targets, index, options(tmp_path / "r", settings=settings), Events())
    assert not result.failures and [b.finding.title for _, b in result.records] == ["WARNING in warnon_ioctl"]
    [data] = folders(tmp_path / "r").values()
    assert f"keyring={pub}" in data["repro"] and "kfuzz-task-" not in data["repro"]


def test_a_cluster_run_from_the_command_line_counts_the_clusters_workers(
        cluster: str, tmp_path: Path) -> None:
    import json

    from test_cli import kfuzz

    result = kfuzz("fuzz", BUGGY[0], "--module-path", TARGETS, "--cluster", cluster, "--max-examples", 100,
                   "--no-db", "--reports", tmp_path / "r", "--stats", tmp_path / "st.json")
    assert result.exit_code == 1, result.output  # warnon's bug
    stats = json.loads((tmp_path / "st.json").read_text())
    assert (stats["workers"], stats["findings"]) == (2, {"warning": 1})
    assert stats["test_cases"] == 100  # shared by the cluster's two campaigns


def test_kfuzz_worker_refuses_what_is_no_scheduler_address() -> None:
    from test_cli import kfuzz

    for bad in ("notanaddress", "tcp://host:x"):
        result = kfuzz("worker", bad)
        assert result.exit_code == 2 and f"{bad}: not a scheduler address" in result.stderr
        assert "Traceback" not in result.output
