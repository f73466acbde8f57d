"""The example database of `.kfuzz/`: what Hypothesis found, kept for the next run.

Hypothesis deletes a saved example once it no longer fails. A campaign's later
rounds ignore the bugs already found, so there a saved example "passes" only
because its bug is being ignored; those rounds must not delete it, or the next
run would lose the bug it should try first.

An entry that is not an example of ours (corrupt, or written by something else)
is moved aside to `.corrupt-TIME/` in the database, never deleted and never run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase, choices_from_bytes


class KeepingDatabase(ExampleDatabase):
    """A directory database whose deletions can be switched off."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.wrapped = DirectoryBasedExampleDatabase(str(path))
        self.keep = False

    def __repr__(self) -> str:
        return f"KeepingDatabase({self.wrapped!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeepingDatabase) and self.wrapped == other.wrapped

    def fetch(self, key: bytes) -> Iterable[bytes]:
        for value in self.wrapped.fetch(key):
            if choices_from_bytes(value) is None:
                self.quarantine(key, value)
                continue
            yield value

    def quarantine(self, key: bytes, value: bytes) -> None:
        """Moves an entry that is no example aside, where a person can look at it."""
        entry = self.wrapped._value_path(key, value)
        aside = self.path / f".corrupt-{time.strftime('%Y%m%dT%H%M%S')}" / entry.parent.name / entry.name
        try:
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(entry, aside)
        except OSError:
            pass  # gone already, or not ours to move: it is skipped all the same

    def save(self, key: bytes, value: bytes) -> None:
        self.wrapped.save(key, value)

    def delete(self, key: bytes, value: bytes) -> None:
        if not self.keep:
            self.wrapped.delete(key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.save(dest, value)
        if src != dest:
            self.delete(src, value)

    def _start_listening(self) -> None:
        pass

    def _stop_listening(self) -> None:
        pass
