"""The worker's pstore: its kernel log and the operation in flight, kept where a
dead worker cannot take them, as pstore/ramoops keeps a dying kernel's log.

A shared anonymous mapping made before fork: the worker writes each dmesg line
into a 64 KiB ring and the `.kfz` line of each operation as it starts; the
fuzzer reads both after the worker died.
"""

from __future__ import annotations

import mmap
import struct

LOG_SIZE = 64 * 1024
OP_SIZE = 512
_POS = struct.Struct("<Q")  # bytes written to the ring so far
_SEQ = struct.Struct("<Q")  # operations started so far
_SEQ_AT = _POS.size
_OP_AT = _SEQ_AT + _SEQ.size
_LOG_AT = _OP_AT + OP_SIZE


class Pstore:
    def __init__(self) -> None:
        self.mem = mmap.mmap(-1, _LOG_AT + LOG_SIZE)
        self.clear()

    def clear(self) -> None:
        """A new test case: its log starts empty."""
        _POS.pack_into(self.mem, 0, 0)
        self.mem[_OP_AT:_OP_AT + 1] = b"\0"

    def in_flight(self, op: str) -> None:
        data = op.encode(errors="replace")[:OP_SIZE - 1] + b"\0"
        self.mem[_OP_AT:_OP_AT + len(data)] = data
        _SEQ.pack_into(self.mem, _SEQ_AT, self.started() + 1)

    def started(self) -> int:
        """How many operations the worker has started: the fuzzer's sign of progress."""
        return int(_SEQ.unpack_from(self.mem, _SEQ_AT)[0])

    def write(self, line: str) -> None:
        data = (line + "\n").encode(errors="replace")[-LOG_SIZE:]
        pos = _POS.unpack_from(self.mem, 0)[0]
        at = pos % LOG_SIZE
        first = min(len(data), LOG_SIZE - at)
        self.mem[_LOG_AT + at:_LOG_AT + at + first] = data[:first]
        if first < len(data):
            self.mem[_LOG_AT:_LOG_AT + len(data) - first] = data[first:]
        _POS.pack_into(self.mem, 0, pos + len(data))

    def operation(self) -> str:
        """The operation the worker was running when it stopped answering."""
        raw = self.mem[_OP_AT:_OP_AT + OP_SIZE].split(b"\0", 1)[0]
        return raw.decode(errors="replace")

    def dmesg(self) -> list[str]:
        """The last 64 KiB of the log, whole lines only."""
        pos = _POS.unpack_from(self.mem, 0)[0]
        ring = self.mem[_LOG_AT:_LOG_AT + LOG_SIZE]
        if pos <= LOG_SIZE:
            data = ring[:pos]
        else:
            at = pos % LOG_SIZE
            data = ring[at:] + ring[:at]
            data = data.split(b"\n", 1)[1] if b"\n" in data else b""
        return data.decode(errors="replace").splitlines()
