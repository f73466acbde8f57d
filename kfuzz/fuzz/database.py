"""The example database: what Hypothesis found, kept for the next run.

By default a folder, `.kfuzz/examples/TARGET/`; with `--db redis://HOST:PORT/N`
a Redis database shared by every machine of a team, so a bug found on one is
tried first on all of them next time.

Hypothesis deletes a saved example once it no longer fails. A campaign's later
rounds ignore the bugs already found, so there a saved example "passes" only
because its bug is being ignored; those rounds must not delete it, or the next
run would lose the bug it should try first.

An entry that is not an example of ours (corrupt, or written by something else)
is moved aside, never deleted and never run: in a folder to `.corrupt-TIME/`, in
Redis to the key `.corrupt` of its target.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase, choices_from_bytes

from .corpus import REDIS_SCHEME, redis_examples

QUARANTINE_KEY = b".corrupt"
T = TypeVar("T")


def _server_errors() -> tuple[type[Exception], ...]:
    try:
        from redis import RedisError
    except ImportError:
        return ()
    return (RedisError,)


SERVER_ERRORS = _server_errors()


class KeepingDatabase(ExampleDatabase):
    """An example database whose deletions can be switched off, and whose server may go
    away: a Redis restarted during an overnight run costs the corpus's use until the
    end of the run (said once, on stderr), never the run."""

    def __init__(self, wrapped: ExampleDatabase) -> None:
        super().__init__()
        self.wrapped = wrapped
        self.keep = False
        self.lost: str | None = None  # why the database stopped answering, once it did

    def answer(self, call: Callable[[], T], default: T) -> T:
        """call(), unless the server has stopped answering: then `default`, said once."""
        if self.lost is not None:
            return default
        try:
            return call()
        except SERVER_ERRORS as err:
            self.lost = str(err)
            print(f"kfuzz: the example database stopped answering ({err}); the run goes on "
                  f"without it", file=sys.stderr)
            return default

    def __repr__(self) -> str:
        return f"KeepingDatabase({self.wrapped!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeepingDatabase) and self.wrapped == other.wrapped

    def fetch(self, key: bytes) -> Iterable[bytes]:
        none: list[bytes] = []
        for value in self.answer(lambda: list(self.wrapped.fetch(key)), none):
            if choices_from_bytes(value) is None:
                self.quarantine(key, value)
                continue
            yield value

    def quarantine(self, key: bytes, value: bytes) -> None:
        """Moves an entry that is no example aside, where a person can look at it."""
        if not isinstance(self.wrapped, DirectoryBasedExampleDatabase):
            self.answer(lambda: self.wrapped.move(key, QUARANTINE_KEY, value), None)
            return
        entry = self.wrapped._value_path(key, value)
        folder = self.wrapped.path / f".corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
        aside = folder / entry.parent.name / entry.name
        try:
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(entry, aside)
        except OSError:
            pass  # gone already, or not ours to move: it is skipped all the same

    def save(self, key: bytes, value: bytes) -> None:
        self.answer(lambda: self.wrapped.save(key, value), None)

    def delete(self, key: bytes, value: bytes) -> None:
        if not self.keep:
            self.answer(lambda: self.wrapped.delete(key, value), None)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.save(dest, value)
        if src != dest:
            self.delete(src, value)

    def _start_listening(self) -> None:
        pass

    def _stop_listening(self) -> None:
        pass


def open_examples(db_dir: Path | None, db_url: str | None, target: str) -> KeepingDatabase | None:
    """The example database of one target: Redis when a URL is given, else the folder, else none."""
    if db_url is not None and db_url.startswith(REDIS_SCHEME):
        return KeepingDatabase(redis_examples(db_url, target))
    if db_dir is None:
        return None
    return KeepingDatabase(DirectoryBasedExampleDatabase(str(db_dir / "examples" / target)))
