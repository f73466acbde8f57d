"""procfs: /proc entries whose file operations run module code.

The lifecycle follows fs/proc/inode.c and fs/proc/generic.c. `proc_ops` has no
owner, so an open /proc file does not pin its module: instead every call through
the file counts as in flight (`use_pde`), and removing the entry (`remove_proc_entry`,
`proc_remove`) runs it down: it waits for the calls in flight, then calls `release`
for every file still open (`close_pdeo`). Later calls through such a file get
`-EIO`, and its close calls nothing, so it never runs code of an unloaded module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from . import titles
from .current import Task, current
from .faults import should_fail
from .frames import caller_site
from .fs import FileOperations, Node
from .misuse import expect, misuse
from .sched import Wait

if TYPE_CHECKING:
    from .core import Kernel
    from .fs import File

_NOT_GIVEN = object()  # proc_create's fourth argument, where the older form has none


@dataclass(eq=False)
class ProcEntry:
    """A proc_dir_entry: what its open files need to know while it is run down."""

    name: str
    mode: int
    data: Any = None  # the driver's: whatever it gives proc_create, for it to read back
    users: list[Task] = field(default_factory=list)  # tasks of the calls in flight (use_pde)
    gone: bool = False  # run down: no new call starts (proc_entry_rundown's BIAS)
    openers: list[File] = field(default_factory=list)  # open files owed a release (pde_openers)
    closing: list[File] = field(default_factory=list)  # their releases running now (pdeo->closing)

    def __repr__(self) -> str:
        return f"<proc {self.name}>"

    @property
    def in_use(self) -> int:
        return len(self.users)

    def use(self, task: Task) -> bool:
        """use_pde: False once the entry is run down (the caller answers -EIO)."""
        if self.gone:
            return False
        self.users.append(task)
        return True

    def unuse(self, task: Task) -> None:
        self.users.remove(task)

    def close(self, kernel: Kernel, file: File) -> None:
        """`close_pdeo` (fs/proc/inode.c): the release runs once, by whoever comes first,
        a close or the entry's removal; the other waits until it has returned."""
        if file in self.closing:
            kernel.sched.block(Wait(f"close_pdeo: the release of a file of /proc/{self.name} runs",
                                    lambda: file not in self.closing))
        if file not in self.openers:
            return
        self.closing.append(file)
        try:
            if file.fops.release is not None:
                kernel.call(file.fops.release, file.f_inode, file)
        finally:
            self.closing.remove(file)
            if file in self.openers:
                self.openers.remove(file)


def proc_create(name: str, mode: int, parent: object, proc_ops: object = _NOT_GIVEN,
                data: object = None) -> ProcEntry | None:
    """fs/proc/generic.c: proc_create(name, mode, parent, proc_ops), proc_create_data(...,
    data). `parent` is NULL (None): /proc itself, as kfuzz has no proc_mkdir. kfuzz's older
    form proc_create(name, mode, fops[, data]) is taken too: a FileOperations third."""
    if isinstance(parent, FileOperations):  # proc_create(name, mode, fops[, data])
        fops, data = parent, (None if proc_ops is _NOT_GIVEN else proc_ops)
    else:
        if parent is not None:
            raise misuse("proc_create", "parent", parent, "None (NULL: /proc itself; kfuzz has no "
                         "proc_mkdir)")
        if proc_ops is _NOT_GIVEN:
            raise TypeError("proc_create: proc_ops takes a FileOperations, got nothing: "
                            "proc_create(name, mode, parent, proc_ops)")
        expect("proc_create", "proc_ops", proc_ops, FileOperations, "a FileOperations")
        fops = cast(FileOperations, proc_ops)
    expect("proc_create", "name", name, str, "a str")
    expect("proc_create", "mode", mode, int, "an int (0o444; 0 is 0o444)")
    kernel = current()
    kernel.locking.might_sleep("proc_create")  # kzalloc(GFP_KERNEL) of the entry
    if should_fail("proc_create"):
        return None
    path = f"/proc/{name}"
    if path in kernel.fs.nodes:  # proc_register: WARN(1, "proc_dir_entry '%s/%s' already registered")
        kernel.warn(titles.PROC_REGISTER_TWICE, f"proc_dir_entry '/proc/{name}' already registered")
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
        kernel.warn(titles.REMOVE_PROC_UNKNOWN, f"name '{name}'")  # WARN(1, "name '%s'\n", name)
        return
    kernel.locking.might_sleep("remove_proc_entry")  # fs/proc/generic.c: proc_entry_rundown waits
    _remove(kernel, node)


def proc_remove(entry: ProcEntry | None) -> None:
    """Removes `entry`; silent when it is None or already gone (remove_proc_subtree)."""
    kernel = current()
    node = kernel.fs.nodes.get(f"/proc/{entry.name}") if entry is not None else None
    if entry is not None:
        kernel.locking.might_sleep("proc_remove")  # remove_proc_subtree: proc_entry_rundown waits
    if node is not None and node.obj is entry:
        _remove(kernel, node)


def _remove(kernel: Kernel, node: Node) -> None:
    kernel.fs.remove(node.path)
    entry: ProcEntry = node.obj  # type: ignore[assignment]
    proc_entry_rundown(kernel, entry)


def proc_entry_rundown(kernel: Kernel, entry: ProcEntry) -> None:
    """Waits for the calls in flight, then releases every file still open (close_pdeo).
    A call through the entry on this very task waits for us: that never ends."""
    entry.gone = True
    if kernel.task in entry.users:
        kernel.report(titles.HANG,
                      f"INFO: task {kernel.task.comm}:{kernel.task.pid} blocked in remove_proc_entry: "
                      f"it waits for {entry.in_use} call(s) through /proc/{entry.name} that wait for it")
    if entry.users:  # calls on other tasks: wait for them (wait_for_completion in Linux)
        kernel.sched.block(Wait(f"remove_proc_entry: {entry.in_use} call(s) through /proc/{entry.name}",
                                lambda: not entry.users))
    if kernel.kcsan is not None:
        kernel.kcsan.acquire(entry)
    while entry.openers:  # newest first: proc_reg_open list_add()s at the head
        entry.close(kernel, entry.openers[-1])
