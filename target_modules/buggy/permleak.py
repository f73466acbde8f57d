"""permleak: a permanent module that leaks its scratch buffer at init.

BUG (memory-leak): permleak_init kzallocs a 64-byte scratch buffer to parse its
quirk list, keeps only the count it parsed and returns without kfree'ing the
scratch. The module has module_init but no module_exit, so it is permanent (as
built-in code is) and never unloaded: no check at rmmod can see the leak; it is
found when the scratch buffer's last reference, a local of init, goes. Reach it
with `insmod permleak`. Expected: "memory leak in permleak_init".
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "boot-time quirk list (permanent)"

PERMLEAK_QUIRKS = b"noapic,nolapic,nomsi"

permleak_count = 0


def permleak_parse(scratch):
    scratch[0:len(PERMLEAK_QUIRKS)] = PERMLEAK_QUIRKS
    return bytes(scratch).rstrip(b"\0").count(b",") + 1


@module_init
def permleak_init():
    global permleak_count
    scratch = kzalloc(64)
    if scratch is None:
        return -ENOMEM
    permleak_count = permleak_parse(scratch)
    pr_info(f"permleak: {permleak_count} quirks")
    return 0                  # BUG: scratch is never kfree'd
