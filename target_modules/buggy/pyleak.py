"""pyleak: a module whose firmware cache outlives it in the Python heap.

BUG (python-leak): init "caches" a 256 KiB firmware image in a registry that
lives outside the module's namespace (a module object planted in
sys.modules), so each load appends another image that no unload ever drops:
the Python heap grows at every insmod/rmmod cycle although the simulated
kernel sees no leak (the image is not kmalloc'd). Reach it by loading and
unloading it repeatedly. Detected by the fuzzer (issue 3).
"""
import sys
import types

from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "firmware loader with a process-wide cache"

FW_SIZE = 256 * 1024

fw_cache = sys.modules.setdefault("_pyleak_fw_cache",
                                  types.ModuleType("_pyleak_fw_cache"))
if not hasattr(fw_cache, "images"):
    fw_cache.images = []


@module_init
def pyleak_init():
    image = bytearray(FW_SIZE)        # BUG: cached forever, never dropped
    image[0:4] = b"\x7fFW1"
    fw_cache.images.append(image)
    pr_info(f"pyleak: {len(fw_cache.images)} firmware images cached")
    return 0


@module_exit
def pyleak_exit():
    pr_info("pyleak: unloaded")
