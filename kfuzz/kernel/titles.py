"""Every finding title, each format written once: a title is a bug's identity.

A report folder is named by its title and the minimizer keeps a program only
while it gives the same title, so a format must never change by accident.
`{fn}` is the guilty function; other fields are named where they are used.
Each entry has a golden test in tests/test_titles.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from .findings import Kind


@dataclass(frozen=True)
class Title:
    """One title format and the kind of finding it names."""

    kind: Kind
    fmt: str

    def format(self, **fields: object) -> str:
        return self.fmt.format(**fields)


# -- memory (KASAN, kmemleak) ----------------------------------------------------------
MEMORY_LEAK = Title(Kind.MEMORY_LEAK, "memory leak in {fn}")
USE_AFTER_FREE = Title(Kind.USE_AFTER_FREE, "KASAN: use-after-free in {fn}")
OUT_OF_BOUNDS = Title(Kind.OUT_OF_BOUNDS, "KASAN: slab-out-of-bounds in {fn}")
DOUBLE_FREE = Title(Kind.DOUBLE_FREE, "KASAN: double-free in {fn}")
# a copy past the count a read or write was given (uaccess.py): kfuzz's own check of user memory
USER_BUFFER_OVERFLOW = Title(Kind.OUT_OF_BOUNDS, "BUG: user-buffer-overflow in {fn}")
INVALID_FREE = Title(Kind.DOUBLE_FREE, "KASAN: invalid-free in {fn}")
# kmalloc past KMALLOC_MAX_SIZE: the page allocator's WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER),
# titled by the kernel function, as syzbot titles it
ALLOC_PAGES_TOO_LARGE = Title(Kind.WARNING, "WARNING in __alloc_pages")

# -- what a module leaves behind ------------------------------------------------------
DANGLING = Title(Kind.DANGLING_REGISTRATION, "WARNING: dangling {what} {name} after unload")
UNLOADED_CODE = Title(Kind.UNLOADED_CODE, "BUG: unable to handle page fault in {fn}")

# -- concurrency (KCSAN): the two functions in lexicographic order, as kcsan/report.c sorts them
DATA_RACE = Title(Kind.DATA_RACE, "KCSAN: data-race in {a} / {b}")

# -- oopses: an exception escaped module code -----------------------------------------
NULL_DEREF = Title(Kind.OOPS, "BUG: kernel NULL pointer dereference in {fn}")
OOPS = Title(Kind.OOPS, "Oops: {exc} in {fn}")
# a ZeroDivisionError: the #DE trap, as arch/x86/kernel/traps.c's exc_divide_error names it
DIVIDE_ERROR = Title(Kind.OOPS, "divide error in {fn}")

# -- locking and context ---------------------------------------------------------------
ATOMIC_SLEEP = Title(Kind.ATOMIC_SLEEP, "BUG: sleeping function called from invalid context in {fn}")
RECURSIVE_LOCKING = Title(Kind.LOCKDEP, "possible recursive locking in {fn}")
CIRCULAR_LOCKING = Title(Kind.LOCKDEP, "possible circular locking dependency in {fn}")
BAD_UNLOCK = Title(Kind.LOCKDEP, "WARNING: bad unlock balance in {fn}")
LOCK_HELD_RETURNING = Title(Kind.LOCKDEP, "WARNING: lock held when returning to user space in {fn}")
WORKQUEUE_LEAKED_LOCK = Title(Kind.LOCKDEP, "BUG: workqueue leaked lock in {fn}")
INCONSISTENT_LOCK_STATE = Title(Kind.LOCKDEP, "inconsistent lock state in {fn}")
HARDIRQ_SAFE_UNSAFE = Title(Kind.LOCKDEP, "HARDIRQ-safe -> HARDIRQ-unsafe lock order in {fn}")
SOFTIRQ_SAFE_UNSAFE = Title(Kind.LOCKDEP, "SOFTIRQ-safe -> SOFTIRQ-unsafe lock order in {fn}")
IRQ_LOCK_INVERSION = Title(Kind.LOCKDEP, "possible irq lock inversion dependency in {fn}")
INVALID_SUBCLASS = Title(Kind.LOCKDEP, "BUG: looking up invalid subclass in {fn}")

# -- reference counts ------------------------------------------------------------------
REFCOUNT_ADDITION_ON_0 = Title(Kind.REFCOUNT, "refcount_t: addition on 0 in {fn}")
REFCOUNT_UNDERFLOW = Title(Kind.REFCOUNT, "refcount_t: underflow in {fn}")
REFCOUNT_DECREMENT_HIT_0 = Title(Kind.REFCOUNT, "refcount_t: decrement hit 0 in {fn}")
REFCOUNT_SATURATED = Title(Kind.REFCOUNT, "refcount_t: saturated in {fn}")
MODULE_REFCOUNT_UNDERFLOW = Title(Kind.REFCOUNT, "module {mod}: refcount underflow in {fn}")
MODULE_REFERENCE_LEAKED = Title(Kind.REFCOUNT, "module {mod}: reference leaked in {fn}")

# -- warnings: WARN_ON and the kernel's own misuse checks ------------------------------
WARN_ON = Title(Kind.WARNING, "WARNING in {fn}")
FREE_IRQ_TWICE = Title(Kind.WARNING, "WARNING: trying to free already-free IRQ in {fn}")
REMOVE_PROC_UNKNOWN = Title(Kind.WARNING, "WARNING: remove_proc_entry of unknown entry in {fn}")
PROC_REGISTER_TWICE = Title(Kind.WARNING, "WARNING: proc_dir_entry already registered in {fn}")
QUEUE_WORK_DESTROYED = Title(Kind.WARNING, "WARNING: queue_work on destroyed workqueue in {fn}")
MISC_REGISTER_TWICE = Title(Kind.WARNING, "WARNING: misc device registered twice in {fn}")
MISC_DEREGISTER_UNKNOWN = Title(Kind.WARNING, "WARNING: misc_deregister of unregistered device in {fn}")
DRIVER_UNREGISTER_UNKNOWN = Title(Kind.WARNING, "WARNING: unregistering unknown driver in {fn}")
NOTIFIER_REGISTER_TWICE = Title(Kind.WARNING, "WARNING: notifier registered twice in {fn}")
IRQ_HANDLER_ENABLED_IRQS = Title(Kind.WARNING, "WARNING: irq handler enabled interrupts in {fn}")
ADD_TIMER_PENDING = Title(Kind.WARNING, "WARNING: add_timer of a pending timer in {fn}")
DEL_TIMER_SYNC_IN_HARDIRQ = Title(Kind.WARNING, "WARNING: del_timer_sync in hardirq context in {fn}")
# lib/vsprintf.c format_decode: WARN_ONCE(1, "Please remove unsupported %%%c in format string")
PRINTF_UNSUPPORTED = Title(Kind.WARNING, "WARNING: unsupported conversion in format string in {fn}")
# drivers/base/devres.c devm_kfree: WARN_ON(devres_destroy(...)) of memory devm did not allocate
DEVM_KFREE_UNKNOWN = Title(Kind.WARNING, "WARNING: devm_kfree of memory devm did not allocate in {fn}")
# lib/idr.c ida_free: WARN(1, "ida_free called for id=%d which is not allocated.")
IDA_FREE_UNALLOCATED = Title(Kind.WARNING, "WARNING: ida_free of an id not allocated in {fn}")
# drivers/usb/core/urb.c: an URB resubmitted while active, a pipe of the wrong type for its
# endpoint (BOGUS urb xfer), bad flags or control direction; titled by the kernel function,
# as syzbot titles it
USB_SUBMIT_URB = Title(Kind.WARNING, "WARNING in usb_submit_urb")

# -- debug objects (lib/debugobjects.c): {type} is timer_list or work_struct -------------
ODEBUG_FREE_ACTIVE = Title(Kind.WARNING, "ODEBUG: free active object type: {type} in {fn}")

# -- BUG() and panic() -----------------------------------------------------------------
BUG = Title(Kind.BUG, "kernel BUG in {fn}")
PANIC = Title(Kind.BUG, "kernel panic in {fn}")

# -- the kernel's process: stuck, out of memory, dead ----------------------------------
HANG = Title(Kind.HANG, "INFO: task hung in {fn}")
OUT_OF_MEMORY = Title(Kind.CRASH, "kernel process out of memory in {fn}")
CRASH = Title(Kind.CRASH, "kernel process {what} in {fn}")

# -- the python-leak check ---------------------------------------------------------------
PYTHON_LEAK = Title(Kind.PYTHON_LEAK, "Python heap leak in {fn}")

# -- module code acting outside its kernel (the worker's audit hook) -------------------
# `what` is one of executor/escape.py's fixed words: kill, fork, exec, chdir, setrlimit,
# file write (never a pid or a path: the title must not change between runs)
ESCAPE = Title(Kind.ESCAPE, "BUG: module escaped its kernel: {what} in {fn}")

# the table by stable key: the constant's name
TITLES: dict[str, Title] = {name: value for name, value in globals().items() if isinstance(value, Title)}
