"""The example corpus in Redis: shared by runs, moved to and from the folder, refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from hypothesis.database import choices_to_bytes
from test_cli import kfuzz
from test_fuzz import TARGETS, Quiet

from kfuzz.fuzz import Events, FuzzOptions, fuzz, resolve_targets
from kfuzz.fuzz.corpus import PREFIX, folder_entries, redis_entries, redis_examples
from kfuzz.fuzz.database import QUARANTINE_KEY, KeepingDatabase
from kfuzz.fuzz.events import BugFound, Event


class FirstBugAt:
    at: int | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, BugFound) and self.at is None:
            self.at = event.counts.cases


def first_bug(url: str, seed: int, tmp_path: Path) -> int | None:
    targets, index = resolve_targets([TARGETS / "buggy" / "lockorder.py"], TARGETS)
    first = FirstBugAt()
    # each run its own folder: only Redis carries the corpus from one to the next
    opts = FuzzOptions(seed=seed, max_examples=400, db_dir=tmp_path / f"machine{seed}",
                       db_url=url, reports=tmp_path / "reports")
    fuzz(targets, index, opts, Events(first, Quiet()))
    return first.at


def test_a_bug_found_on_one_machine_is_tried_first_on_the_next(fresh_redis: str, tmp_path: Path) -> None:
    cases = [first_bug(fresh_redis, seed, tmp_path) for seed in (0, 1)]
    assert cases[0] is not None and cases[0] > 5
    assert cases[1] is not None and cases[1] <= 2, cases
    assert not (tmp_path / "machine0" / "examples").exists()  # the corpus went to Redis alone


def test_export_and_import_move_a_corpus_between_folder_and_redis(fresh_redis: str, tmp_path: Path) -> None:
    targets, index = resolve_targets([TARGETS / "buggy" / "lockorder.py"], TARGETS)
    opts = FuzzOptions(seed=0, max_examples=200, db_dir=tmp_path / "a", reports=tmp_path / "reports")
    fuzz(targets, index, opts, Events(Quiet()))
    local = set(folder_entries(tmp_path / "a" / "examples"))
    assert local and {t for t, _, _ in local} == {"lockorder"}

    pushed = kfuzz("db", "export", fresh_redis, "--dir", tmp_path / "a")
    assert pushed.exit_code == 0 and f"{len(local)} examples copied" in pushed.stdout
    with redis.Redis.from_url(fresh_redis) as client:
        assert set(redis_entries(client)) == local

    pulled = kfuzz("db", "import", fresh_redis, "--dir", tmp_path / "b")
    assert pulled.exit_code == 0, pulled.output
    assert set(folder_entries(tmp_path / "b" / "examples")) == local


def test_a_foreign_entry_in_redis_is_moved_aside_never_run(fresh_redis: str) -> None:
    db = KeepingDatabase(redis_examples(fresh_redis, "m"))
    good = choices_to_bytes([3, True, b"x"])
    db.save(b"key", good)
    db.save(b"key", b"\xff\xff not an example")
    assert list(db.fetch(b"key")) == [good]
    with redis.Redis.from_url(fresh_redis) as client:
        assert client.smembers(PREFIX + b"m:" + QUARANTINE_KEY) == {b"\xff\xff not an example"}


def test_a_redis_that_cannot_be_reached_is_bad_input_before_fuzzing(tmp_path: Path) -> None:
    from redis_server import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    result = kfuzz("fuzz", TARGETS / "ringbuf.py", "--db", url, "--max-examples", 1,
                   "--reports", tmp_path / "r")
    assert result.exit_code == 2
    assert f"--db {url}: cannot reach Redis" in result.stderr and "redis-server --port" in result.stderr
    assert not (tmp_path / "r" / "ringbuf").exists()


def test_db_flags_that_make_no_sense_are_bad_input(tmp_path: Path) -> None:
    both = kfuzz("fuzz", TARGETS / "ringbuf.py", "--db", tmp_path, "--no-db")
    assert both.exit_code == 2 and "--db and --no-db" in both.stderr
    other = kfuzz("fuzz", TARGETS / "ringbuf.py", "--db", "postgres://h/db")
    assert other.exit_code == 2 and "only redis:// URLs" in other.stderr
    export = kfuzz("db", "export", "http://x", "--dir", tmp_path)
    assert export.exit_code == 2 and "no example database there" in export.stderr
    pull = kfuzz("db", "import", "http://x", "--dir", tmp_path)
    assert pull.exit_code == 2 and "not a Redis URL" in pull.stderr


def test_db_folder_replaces_the_default_folder(tmp_path: Path) -> None:
    result = kfuzz("fuzz", TARGETS / "buggy" / "warnon.py", "--db", tmp_path / "corpus",
                   "--max-examples", 100, "--reports", tmp_path / "r")
    assert result.exit_code == 1, result.output
    assert {t for t, _, _ in folder_entries(tmp_path / "corpus" / "examples")} == {"warnon"}


def test_a_redis_that_goes_away_mid_run_costs_the_corpus_not_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from redis_server import redis_server

    with redis_server(tmp_path) as url:
        db = KeepingDatabase(redis_examples(url, "m"))
        db.save(b"key", choices_to_bytes([1]))
    # the server is gone: each call is quiet, the first says so once
    db.save(b"key", choices_to_bytes([2]))
    assert list(db.fetch(b"key")) == []
    db.delete(b"key", choices_to_bytes([1]))
    err = capsys.readouterr().err
    assert err.count("the example database stopped answering") == 1 and "goes on without it" in err


def test_import_takes_only_module_named_targets(fresh_redis: str, tmp_path: Path) -> None:
    with redis.Redis.from_url(fresh_redis) as client:
        client.sadd(PREFIX + b"../../escape:key", choices_to_bytes([1]))
        client.sadd(PREFIX + b"ok_mod:key", choices_to_bytes([1]))
    pulled = kfuzz("db", "import", fresh_redis, "--dir", tmp_path / "b")
    assert pulled.exit_code == 0 and "1 examples copied" in pulled.stdout
    assert [p.name for p in (tmp_path / "b" / "examples").iterdir()] == ["ok_mod"]
    assert not (tmp_path / "escape").exists()
