"""One exception type per bug title, so Hypothesis keeps distinct bugs apart.

Hypothesis tells failures apart by exception type and place; every bug is
raised from the same place, so the type carries the identity: a shrink that
turns one bug into another is a different failure, not a smaller one.
"""

from __future__ import annotations

import hashlib

from ..kernel import Finding


class KfuzzBug(Exception):
    title = ""

    def __init__(self, finding: Finding):
        super().__init__(finding.title)
        self.finding = finding


class StopFuzzing(BaseException):
    """The budget is spent: unwinds Hypothesis at once (not a test failure)."""


_types: dict[str, type[KfuzzBug]] = {}


def bug_type(title: str) -> type[KfuzzBug]:
    cls = _types.get(title)
    if cls is None:
        digest = hashlib.sha1(title.encode()).hexdigest()[:12]
        cls = _types[title] = type(f"Bug_{digest}", (KfuzzBug,), {"title": title})
    return cls
