"""procfs: /proc entries whose file operations run module code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import titles
from .current import current
from .faults import should_fail
from .frames import caller_site
from .fs import FileOperations, Node


@dataclass(eq=False)
class ProcEntry:
    name: str
    mode: int
    data: Any = None  # the driver's: whatever it gives proc_create, for it to read back

    def __repr__(self) -> str:
        return f"<proc {self.name}>"


def proc_create(name: str, mode: int, fops: FileOperations, data: object = None) -> ProcEntry | None:
    kernel = current()
    kernel.locking.might_sleep("proc_create")  # kzalloc(GFP_KERNEL) of the entry
    if should_fail("proc_create"):
        return None
    path = f"/proc/{name}"
    if path in kernel.fs.nodes:
        kernel.log.write(f"proc_dir_entry '/proc/{name}' already registered")
        return None
    entry = ProcEntry(name, mode or 0o444, data)
    node = Node(path, "proc", fops, mode=entry.mode, owner=kernel.current_module(),
                obj=entry, site=caller_site(), what="proc entry")
    kernel.fs.add(node)
    return entry


proc_create_data = proc_create


def remove_proc_entry(name: str) -> None:
    kernel = current()
    node = kernel.fs.nodes.get(f"/proc/{name}")
    if node is None or node.kind != "proc":
        kernel.warn(titles.REMOVE_PROC_UNKNOWN,
                    f"remove_proc_entry: name '{name}' is not registered")
        return
    kernel.locking.might_sleep("remove_proc_entry")  # fs/proc/generic.c: proc_entry_rundown waits
    kernel.fs.remove(node.path)


def proc_remove(entry: ProcEntry | None) -> None:
    if entry is not None:
        remove_proc_entry(entry.name)
