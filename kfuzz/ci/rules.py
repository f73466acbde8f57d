"""What each kind of finding means, once: the SARIF rules (one per kind) read it."""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel.findings import Kind


@dataclass(frozen=True)
class KindText:
    short: str  # a line
    full: str  # what it is and who caught it
    fix: str  # what to look at


TEXTS: dict[Kind, KindText] = {
    Kind.MEMORY_LEAK: KindText(
        "Memory leak", "A buffer from kmalloc was never freed: kmemleak's finding, made at rmmod of the "
        "owning module or at the end of the program.", "Free the buffer on every path that drops "
        "the last pointer to it, the error paths of init and probe included."),
    Kind.USE_AFTER_FREE: KindText(
        "Use after free", "Module code read or wrote a buffer after it was freed (KASAN: "
        "slab-use-after-free).", "Check the free site in the report: clear the pointer when freeing "
        "and stop whatever still uses it (a timer, work, an open file, a device) first."),
    Kind.DOUBLE_FREE: KindText(
        "Double free", "A buffer was freed twice (KASAN: double-free).",
        "Free it on one path only, or clear the pointer after freeing it."),
    Kind.OUT_OF_BOUNDS: KindText(
        "Out-of-bounds access", "Module code read or wrote past the end of a buffer (KASAN: "
        "slab-out-of-bounds).", "Check the length against the buffer's size before the access."),
    Kind.DANGLING_REGISTRATION: KindText(
        "Dangling registration", "The module left something registered (a timer, an IRQ, a driver, a "
        "device node, work) after rmmod or a failed init.", "Undo every registration in exit, and in "
        "init's error path, in the reverse order."),
    Kind.UNLOADED_CODE: KindText(
        "Call into unloaded code", "The kernel called a function of a module that is gone (fops "
        "without an owner, a timer armed past rmmod).", "Set .owner = THIS_MODULE in the fops and "
        "stop timers and work before exit returns."),
    Kind.OOPS: KindText(
        "Oops", "An exception escaped module code (a NULL dereference, an error the module did not "
        "handle).", "Read the traceback in the report: the guilty line is its last module frame."),
    Kind.ATOMIC_SLEEP: KindText(
        "Sleep in atomic context", "A sleeping call ran in interrupt, timer or spinlock context "
        "(sleeping function called from invalid context).", "Use GFP_ATOMIC, or move the work out of "
        "the atomic context (a workqueue)."),
    Kind.LOCKDEP: KindText(
        "Lock misuse", "lockdep found a possible deadlock: a lock-order cycle, inconsistent IRQ "
        "usage, a lock held on return to user space, a bad unlock.", "Take locks in one order "
        "everywhere, and disable IRQs (spin_lock_irqsave) for locks an interrupt handler takes."),
    Kind.REFCOUNT: KindText(
        "Reference count bug", "A reference count went below zero or was taken on zero, or a module "
        "reference was leaked.", "Pair every get with one put, on every path."),
    Kind.WARNING: KindText(
        "Kernel warning", "A WARN_ON fired, in module code or in the kernel on the module's behalf.",
        "The report names the condition that was false."),
    Kind.BUG: KindText(
        "Kernel BUG or panic", "A BUG_ON or panic stopped the kernel.",
        "The report names the condition; handle it instead of stopping the kernel."),
    Kind.HANG: KindText(
        "Hang", "An operation ran past its timeout: a busy loop (soft lockup) or a wait that never "
        "returned (hung task).", "Bound the loop or the wait; the report names the line it stopped at."),
    Kind.CRASH: KindText(
        "Crash", "The kernel worker died: a signal, os._exit, or out of memory.",
        "The report holds the kernel log up to the crash and the operation in flight."),
    Kind.PYTHON_LEAK: KindText(
        "Python heap growth", "The Python heap grew across load and unload cycles of the module.",
        "Look for module-level state that init adds to and exit does not clear."),
    Kind.DATA_RACE: KindText(
        "Data race", "Two tasks accessed the same field of a kmalloc'd buffer, one of them writing, "
        "with nothing ordering the two accesses (no lock, wake-up or completion between them).",
        "Hold the same lock around both accesses, or mark an intended race with READ_ONCE, "
        "WRITE_ONCE or data_race."),
    Kind.ESCAPE: KindText(
        "Escape from the kernel", "Module code tried to act outside its kernel (signal another "
        "process, fork, exec, change directory or limits, write a file).",
        "Module code must reach the world only through the kernel API."),
}

# kinds a reader should see first; the others are errors too, but not memory safety
SECURITY = {Kind.USE_AFTER_FREE, Kind.DOUBLE_FREE, Kind.OUT_OF_BOUNDS, Kind.ESCAPE}
WARNINGS = {Kind.WARNING, Kind.PYTHON_LEAK}


def text_of(kind: str) -> KindText:
    try:
        return TEXTS[Kind(kind)]
    except (ValueError, KeyError):  # a kind from a newer kfuzz's report
        return KindText(kind, f"A {kind} finding.", "See the report.")
