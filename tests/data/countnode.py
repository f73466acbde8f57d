"""A correct platform driver whose misc node is named from a counter never reused:
/dev/countnode0 at the first probe, /dev/countnode1 after a rebind, and so on.

`kfuzz check` must learn the node again after each plug and bind (test_check.py). The
per-device state is kzalloc'd with an embedded MiscDevice and Kref: open finds it with
container_of from the MiscDevice misc_open hands it, each open file holds a reference,
and the last kref_put frees it (container_of from the Kref), so a read after the device
went is -ENODEV, never a use-after-free.
"""

from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "misc node per probe, named from a counter"
MODULE_ALIAS = "countnode-dev"

cn_lock = DEFINE_MUTEX()
cn_next = 0  # never reused: the next probe's number


def cn_free(kref):
    kfree(container_of(kref, "struct cn_dev", "kref"))


def cn_open(inode, file):
    st = container_of(file.private_data, "struct cn_dev", "misc")  # misc_open holds misc_mtx
    kref_get(st.kref)
    file.private_data = st
    return 0


def cn_read(file, count):
    st = file.private_data
    mutex_lock(cn_lock)
    gone = st.gone
    mutex_unlock(cn_lock)
    if gone:
        return -ENODEV
    data = f"{st.misc.name}\n".encode()[file.f_pos:file.f_pos + max(count, 0)]
    file.f_pos += len(data)
    return data


def cn_release(inode, file):
    kref_put(file.private_data.kref, cn_free)
    return 0


cn_fops = FileOperations(owner=THIS_MODULE, open=cn_open, read=cn_read, release=cn_release)


def cn_probe(dev, id):
    global cn_next
    st = kzalloc(64)
    if st is None:
        return -ENOMEM
    st.kref = kref_init()
    mutex_lock(cn_lock)
    number = cn_next
    cn_next += 1
    mutex_unlock(cn_lock)
    st.misc = MiscDevice(name=f"countnode{number}", fops=cn_fops)
    ret = misc_register(st.misc)
    if ret < 0:
        kfree(st)
        return ret
    dev_set_drvdata(dev, st)
    dev_info(dev, "/dev/%s (probe %d)", st.misc.name, number)
    return 0


def cn_remove(dev):
    st = dev_get_drvdata(dev)
    misc_deregister(st.misc)
    mutex_lock(cn_lock)
    st.gone = 1
    mutex_unlock(cn_lock)
    kref_put(st.kref, cn_free)


MODULE_DEVICE_TABLE = [platform_device_id("countnode")]
cn_driver = Driver(name="countnode", bus="platform", id_table=MODULE_DEVICE_TABLE, probe=cn_probe,
                   remove=cn_remove)
module_platform_driver(cn_driver)
