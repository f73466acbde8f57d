"""ringdev: a character device backed by a ringbuf ring.

`/dev/ringdev` (register_chrdev, dynamic major): write() pushes bytes into a
ring of `size` bytes, read() pops them, FIFO order. ioctl RINGDEV_IOC_RESET
empties the ring, RINGDEV_IOC_COUNT returns the bytes queued. Uses the ringbuf
module's exported symbols; one mutex serialises all access to the ring.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "ring buffer char device"

RINGDEV_IOC_RESET = 0x5200
RINGDEV_IOC_COUNT = 0x5201

size = module_param("size", int, 4096, desc="ring size in bytes (1..65536)")

ring_alloc = import_symbol("ring_alloc")
ring_push = import_symbol("ring_push")
ring_pop = import_symbol("ring_pop")
ring_len = import_symbol("ring_len")
ring_free = import_symbol("ring_free")

ringdev_ring = None
ringdev_major = 0
ringdev_lock = mutex_init()


def ringdev_open(inode, file):
    file.private_data = ringdev_ring
    return 0


def ringdev_read(file, count):
    if count < 0:
        return -EINVAL
    mutex_lock(ringdev_lock)
    data = ring_pop(file.private_data, count)
    mutex_unlock(ringdev_lock)
    return data


def ringdev_write(file, data):
    mutex_lock(ringdev_lock)
    n = ring_push(file.private_data, data)
    mutex_unlock(ringdev_lock)
    if n == 0 and len(data) > 0:
        return -EAGAIN
    return n


def ringdev_ioctl(file, cmd, arg):
    ret = -ENOTTY
    mutex_lock(ringdev_lock)
    ring = file.private_data
    if cmd == RINGDEV_IOC_RESET:
        ring_pop(ring, ring_len(ring))
        ret = 0
    elif cmd == RINGDEV_IOC_COUNT:
        ret = ring_len(ring)
    mutex_unlock(ringdev_lock)
    return ret


def ringdev_release(inode, file):
    file.private_data = None
    return 0


ringdev_fops = FileOperations(owner=THIS_MODULE, open=ringdev_open,
                              read=ringdev_read, write=ringdev_write,
                              unlocked_ioctl=ringdev_ioctl,
                              release=ringdev_release)


@module_init
def ringdev_init():
    global ringdev_ring, ringdev_major
    if size <= 0 or size > 65536:
        pr_err(f"ringdev: bad size {size}")
        return -EINVAL
    ringdev_ring = ring_alloc(size)
    if ringdev_ring is None:
        return -ENOMEM
    major = register_chrdev(0, "ringdev", ringdev_fops)
    if major < 0:
        ring_free(ringdev_ring)
        ringdev_ring = None
        return major
    ringdev_major = major
    pr_info(f"ringdev: major {major}, {size} byte ring")
    return 0


@module_exit
def ringdev_exit():
    global ringdev_ring
    unregister_chrdev(ringdev_major, "ringdev")
    ring_free(ringdev_ring)
    ringdev_ring = None
