"""The planted bug of every module in target_modules/buggy/, for the tests that look for it."""

# module -> (kind, title) of the bug its repro must find; written out here,
# not read from the modules' docstrings.
PLANTED = {
    "leakinit": ("memory-leak", "memory leak in leakinit_init"),
    "leakexit": ("memory-leak", "memory leak in leakexit_write"),
    "usbuaf": ("use-after-free", "KASAN: use-after-free in usbuaf_read"),
    "dblfree": ("double-free", "KASAN: double-free in dblfree_release"),
    "oobwrite": ("out-of-bounds", "KASAN: slab-out-of-bounds in oobwrite_write"),
    "timerleak": ("dangling-registration",
                  "WARNING: dangling timer timerleak_beat after unload"),
    "noowner": ("unloaded-code", "BUG: unable to handle page fault in noowner_read"),
    "nullpriv": ("oops", "BUG: kernel NULL pointer dereference in nullpriv_read"),
    "irqsleep": ("atomic-sleep",
                 "BUG: sleeping function called from invalid context in irqsleep_irq"),
    "lockorder": ("lockdep", "possible circular locking dependency in lockorder_write"),
    "modref": ("refcount", "module modref: reference leaked in modref_ioctl"),
    "warnon": ("warning", "WARNING in warnon_ioctl"),
    "bugon": ("bug", "kernel BUG in bugon_ioctl"),
    "hangioctl": ("hang", "INFO: task hung in hangioctl_ioctl"),
    "crashioctl": ("crash", "kernel process exited with code 3 in crashioctl_ioctl"),
    "pyleak": ("python-leak", "Python heap leak in pyleak_init"),
    "rebinduaf": ("use-after-free", "KASAN: use-after-free in rebinduaf_probe"),
    "rebindleak": ("memory-leak", "memory leak in rebindleak_probe"),
    "irqunsafe": ("lockdep", "inconsistent lock state in irqunsafe_read"),
    "bhunsafe": ("lockdep", "inconsistent lock state in bhunsafe_flush"),
    "timersync": ("lockdep", "possible circular locking dependency in timersync_release"),
    "flushlock": ("lockdep", "possible circular locking dependency in flushlock_commit"),
    "regspin": ("atomic-sleep",
                "BUG: sleeping function called from invalid context in regspin_probe"),
    "addtimer": ("warning", "WARNING: add_timer of a pending timer in addtimer_write"),
    "timerfree": ("warning", "ODEBUG: free active object type: timer_list in timerfree_release"),
    "permleak": ("memory-leak", "memory leak in permleak_init"),
    "ioctlleak": ("memory-leak", "memory leak in ioctlleak_ioctl"),
    "yurexread": ("out-of-bounds", "BUG: user-buffer-overflow in yurex_read"),
    # descriptor trust in a real driver, iowarrior.py's twin: CVE-2016-2188 at probe
    "iowarprobe": ("oops", "BUG: kernel NULL pointer dereference in iowarrior_probe"),
    # races: each needs two operations at once (a `together` group); every serial
    # order of the same operations is clean (tests/test_races.py)
    "discrel": ("use-after-free", "KASAN: use-after-free in discrel_release"),
    "discwrite": ("oops", "BUG: kernel NULL pointer dereference in discwrite_write"),
    "discread": ("use-after-free", "KASAN: use-after-free in discread_read"),
    "bufresize": ("use-after-free", "KASAN: use-after-free in bufresize_ioctl"),
    "selfpin": ("unloaded-code", "BUG: unable to handle page fault in selfpin_open"),
    "deltimer": ("unloaded-code", "BUG: unable to handle page fault in deltimer_poll"),
    "waitlock": ("hang", "INFO: task hung in waitlock_read"),
    # ports of real drivers with a real race put back, each its port's twin:
    # iowarrior.py without edc4746f253d "USB: iowarrior: fix use-after-free on disconnect"
    "iowardisc": ("use-after-free", "KASAN: use-after-free in iowarrior_disconnect"),
    # yurex.py without aafb00a977cf "USB: yurex: fix NULL-derefs on disconnect"
    "yurexdisc": ("oops", "BUG: kernel NULL pointer dereference in yurex_write"),
}

# The same bug found from its other side: lockdep names the function whose
# acquisition closes the cycle (or gives a class its second, clashing usage), so
# the fuzzer reports whichever path ran second.
ALSO_TITLED = {
    "lockorder": "possible circular locking dependency in lockorder_ioctl",
    "irqunsafe": "inconsistent lock state in irqunsafe_irq",
    "bhunsafe": "inconsistent lock state in bhunsafe_write",
    # the timer's callback closes the cycle when the release ran first
    "timersync": "possible circular locking dependency in timersync_ping",
    # the flusher closes it when the work already ran once before the flush
    "flushlock": "possible circular locking dependency in flushlock_ioctl",
    # the hung-task report names the first task blocked: the writer, when it ran first
    "waitlock": "INFO: task hung in waitlock_write",
}
