"""A corpus in Redis, shared by a team's machines, and moving one to and from a folder.

Each target's examples live under the key prefix `kfuzz:examples:TARGET:`, in
Hypothesis's own `RedisExampleDatabase` layout, so a second project sharing a
Redis server should use a database number of its own (`redis://HOST:PORT/N`).
A target's examples expire a year after a run last touched them.
The `redis` package is needed only here: `pip install 'kfuzz[cluster]'`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

if TYPE_CHECKING:
    from redis import Redis

REDIS_SCHEME = "redis://"
PREFIX = b"kfuzz:examples:"
# a target's examples expire when no run has touched them for this long (Hypothesis's
# default is 8 days: a module left alone over a holiday would lose its corpus)
EXPIRE_AFTER = timedelta(days=365)
# a target's name, as module names are: it becomes a folder on import
TARGET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Hypothesis's own record, in a folder database, of every key it holds
FOLDER_KEYS = b".hypothesis-keys"


class CorpusError(Exception):
    """A corpus that cannot be reached or read; the message says what to do."""


def connect(url: str) -> Redis:
    """A live connection to the Redis of `url`, or a CorpusError saying why not."""
    try:
        import redis
    except ImportError:
        raise CorpusError(f"--db {url}: the redis package is missing: pip install 'kfuzz[cluster]'") from None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5)
        client.ping()
    except ValueError as err:
        raise CorpusError(f"--db {url}: not a Redis URL ({err}); write redis://HOST:PORT/N") from None
    except redis.RedisError as err:
        raise CorpusError(f"--db {url}: cannot reach Redis ({err}); start it (redis-server --port PORT) "
                          "or leave --db out to use the folder .kfuzz/") from None
    return client


def redis_examples(url: str, target: str, client: Redis | None = None) -> ExampleDatabase:
    """The Redis example database of one target module."""
    from hypothesis.extra.redis import RedisExampleDatabase

    return RedisExampleDatabase(client or connect(url), expire_after=EXPIRE_AFTER,
                                key_prefix=PREFIX + target.encode() + b":")


def folder_entries(examples: Path) -> Iterator[tuple[str, bytes, bytes]]:
    """(target, key, value) of every example under a folder database's `examples/`."""
    if not examples.is_dir():
        return
    for folder in sorted(p for p in examples.iterdir() if p.is_dir() and not p.name.startswith(".")):
        db = DirectoryBasedExampleDatabase(str(folder))
        for key in db.fetch(FOLDER_KEYS):
            for value in db.fetch(key):
                yield folder.name, key, value


def redis_entries(client: Any) -> Iterator[tuple[str, bytes, bytes]]:
    """(target, key, value) of every kfuzz example in a Redis database."""
    for name in client.scan_iter(match=PREFIX + b"*"):
        target, sep, key = name[len(PREFIX):].partition(b":")
        if not sep or not TARGET_NAME.fullmatch(target.decode(errors="replace")) \
                or client.type(name) != b"set":
            continue  # not an example set of a module: never a path of ours
        for value in client.smembers(name):
            yield target.decode(errors="replace"), key, value


def export_to_redis(db_dir: Path, url: str) -> int:
    """Copies the folder corpus into Redis; returns how many examples were copied."""
    client = connect(url)
    dbs: dict[str, ExampleDatabase] = {}
    count = 0
    for target, key, value in folder_entries(db_dir / "examples"):
        db = dbs.setdefault(target, redis_examples(url, target, client))
        db.save(key, value)
        count += 1
    return count


def import_from_redis(url: str, db_dir: Path) -> int:
    """Copies Redis's corpus into the folder; returns how many examples were copied."""
    client = connect(url)
    dbs: dict[str, ExampleDatabase] = {}
    count = 0
    for target, key, value in redis_entries(client):
        db = dbs.setdefault(target, DirectoryBasedExampleDatabase(str(db_dir / "examples" / target)))
        db.save(key, value)
        count += 1
    return count
