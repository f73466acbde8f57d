"""procstats: /proc/kfstats, a read-only statistics file fed by a workqueue.

Every open of /proc/kfstats queues `stats_work` on the module's own workqueue
"kfstats"; the work samples jiffies into the counters. Each open file has its
own state (kzalloc'd at open, kfree'd by release): the reads it made. read()
returns "opens=O reads=R samples=S last=J mine=M\\n" from the start of the file
(f_pos).
Counters live in a kzalloc'd block under a spinlock. As in Linux, an open
/proc file does not pin the module (proc_ops has no owner): exit removes the
proc entry first, so no open can queue work after it, then flushes and
destroys the workqueue.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "procfs statistics with a private workqueue"

stats = None
stats_wq = None
stats_lock = spin_lock_init()


def stats_work_fn(work):
    flags = spin_lock_irqsave(stats_lock)
    stats.samples += 1
    stats.last = jiffies()
    spin_unlock_irqrestore(stats_lock, flags)


stats_work = INIT_WORK(stats_work_fn)


def stats_open(inode, file):
    mine = kzalloc(16)
    if mine is None:
        return -ENOMEM
    mine.reads = 0
    file.private_data = mine
    flags = spin_lock_irqsave(stats_lock)
    stats.opens += 1
    spin_unlock_irqrestore(stats_lock, flags)
    queue_work(stats_wq, stats_work)
    return 0


def stats_read(file, count):
    flags = spin_lock_irqsave(stats_lock)
    stats.reads += 1
    file.private_data.reads += 1
    text = (f"opens={stats.opens} reads={stats.reads} samples={stats.samples} "
            f"last={stats.last} mine={file.private_data.reads}\n")
    spin_unlock_irqrestore(stats_lock, flags)
    data = text.encode()[file.f_pos:file.f_pos + max(count, 0)]
    file.f_pos += len(data)
    return data


def stats_release(inode, file):
    kfree(file.private_data)  # at close, or when exit removes the entry with the file open
    return 0


stats_fops = FileOperations(open=stats_open, read=stats_read, release=stats_release)


@module_init
def procstats_init():
    global stats, stats_wq
    stats = kzalloc(64)
    if stats is None:
        return -ENOMEM
    stats.opens = stats.reads = stats.samples = stats.last = 0
    stats_wq = alloc_workqueue("kfstats")
    if stats_wq is None:
        kfree(stats)
        return -ENOMEM
    if proc_create("kfstats", 0o444, stats_fops) is None:
        destroy_workqueue(stats_wq)
        kfree(stats)
        return -ENOMEM
    return 0


@module_exit
def procstats_exit():
    remove_proc_entry("kfstats")
    flush_workqueue(stats_wq)
    destroy_workqueue(stats_wq)
    kfree(stats)
