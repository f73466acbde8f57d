"""ringbuf: a byte ring buffer library for other modules.

Exports ring_alloc/ring_push/ring_pop/ring_len (EXPORT_SYMBOL) and ring_free
(EXPORT_SYMBOL_GPL). A ring is a kzalloc'd header whose fields are `size`,
`head`, `tail`, `count` and `data`, a kmalloc'd buffer of `size` bytes.
The library does no locking: callers serialise access to a ring.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "byte ring buffer library"

RING_MAX_SIZE = 1 << 16


@EXPORT_SYMBOL
def ring_alloc(size, flags=GFP_KERNEL):
    """A new empty ring of `size` bytes, or None."""
    if size <= 0 or size > RING_MAX_SIZE:
        return None
    ring = kzalloc(64, flags)
    if ring is None:
        return None
    data = kmalloc(size, flags)
    if data is None:
        kfree(ring)
        return None
    ring.data = data
    ring.size = size
    ring.head = 0
    ring.tail = 0
    ring.count = 0
    return ring


@EXPORT_SYMBOL
def ring_push(ring, data):
    """Copy as much of `data` as fits; return the number of bytes taken."""
    n = min(len(data), ring.size - ring.count)
    done = 0
    while done < n:
        chunk = min(n - done, ring.size - ring.head)
        ring.data[ring.head:ring.head + chunk] = data[done:done + chunk]
        ring.head = (ring.head + chunk) % ring.size
        done += chunk
    ring.count += n
    return n


@EXPORT_SYMBOL
def ring_pop(ring, count):
    """Remove and return up to `count` bytes."""
    n = max(0, min(count, ring.count))
    out = b""
    while len(out) < n:
        chunk = min(n - len(out), ring.size - ring.tail)
        out += bytes(ring.data[ring.tail:ring.tail + chunk])
        ring.tail = (ring.tail + chunk) % ring.size
    ring.count -= n
    return out


@EXPORT_SYMBOL
def ring_len(ring):
    return ring.count


@EXPORT_SYMBOL_GPL
def ring_free(ring):
    if ring is None:
        return
    kfree(ring.data)
    kfree(ring)


@module_init
def ringbuf_init():
    pr_info("ringbuf: loaded")
    return 0


@module_exit
def ringbuf_exit():
    pr_info("ringbuf: unloaded")
