"""What a campaign task sends its client while it runs, over a Dask queue.

Dask's queue carries msgpack data, so each message travels as pickled bytes.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

from ..fuzz.gather import Message as CampaignMessage
from ..report import ReportRecord


@dataclass(frozen=True)
class WriteReport:
    """A record for the client to write into its report store, as a local run would."""

    root: Path
    record: ReportRecord
    when: str
    run: str | None


@dataclass(frozen=True)
class Emitted:
    """A campaign's message (an event, its bugs at the end) for the client's Gather."""

    message: CampaignMessage


Message = WriteReport | Emitted


def encode(msg: Message) -> bytes:
    return pickle.dumps(msg)


def decode(data: bytes) -> Message:
    msg = pickle.loads(data)
    if not isinstance(msg, WriteReport | Emitted):
        raise TypeError(f"not a kfuzz cluster message: {type(msg).__name__}")
    return msg
