"""pollcard: PCI sensor card polled by a timer, stopped with del_timer_sync().

Each card (pci 1b36:0111; the driver takes two) is sampled by a self-re-arming
timer every jiffy: the callback finds its state through timer.data, reads the
sensor register under st.hw_lock, then counts the sample and re-arms under
st.lock (spin_lock_bh in process context: the callback runs in softirq).
remove sets st.stopping under the lock, so that a callback running now does
not re-arm, then del_timer_sync() disarms the timer and waits for a callback
running on another CPU, and only then kfree()s the state; rmmod removes each
card the same way before the module goes.

This is deltimer.py (target_modules/buggy/) done right.
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "PCI sensor card"
MODULE_DEVICE_TABLE = [pci_device_id(0x1B36, 0x0111)]

POLLCARD_POLL = 1    # jiffies between two samples
POLLCARD_CARDS = 2   # cards the driver takes

pollcard_cards_lock = mutex_init()
pollcard_cards = 0       # cards bound, under pollcard_cards_lock


def pollcard_get_card():
    global pollcard_cards
    mutex_lock(pollcard_cards_lock)
    ok = pollcard_cards < POLLCARD_CARDS
    if ok:
        pollcard_cards += 1
    mutex_unlock(pollcard_cards_lock)
    return ok


def pollcard_put_card():
    global pollcard_cards
    mutex_lock(pollcard_cards_lock)
    pollcard_cards -= 1
    mutex_unlock(pollcard_cards_lock)


def pollcard_poll(timer):
    """The poll timer (softirq): read the card's sensor register (under hw_lock),
    count the sample and re-arm (under st.lock)."""
    st = timer.data
    spin_lock(st.hw_lock)
    st.sensor = (st.sensor + 3) & 0xFF  # readl() of the sensor: the model card counts up
    value = st.sensor
    spin_unlock(st.hw_lock)
    spin_lock(st.lock)
    st.samples += 1
    st.last = value
    if not st.stopping:
        mod_timer(timer, jiffies() + POLLCARD_POLL)
    spin_unlock(st.lock)


def pollcard_probe(dev, id):
    if not pollcard_get_card():
        return -ENOSPC
    st = kzalloc(48)
    if st is None:
        pollcard_put_card()
        return -ENOMEM
    st.lock = spin_lock_init()
    st.hw_lock = spin_lock_init()
    st.timer = timer_setup(pollcard_poll)
    st.timer.data = st
    dev_set_drvdata(dev, st)
    mod_timer(st.timer, jiffies() + POLLCARD_POLL)
    return 0


def pollcard_remove(dev):
    st = dev_get_drvdata(dev)
    spin_lock_bh(st.lock)
    st.stopping = True            # the callback does not re-arm from now on
    samples = st.samples
    spin_unlock_bh(st.lock)
    del_timer_sync(st.timer)      # and waits for a callback running now
    dev_info(dev, f"pollcard: {samples} samples")
    kfree(st)
    pollcard_put_card()


pollcard_driver = Driver(name="pollcard", bus="pci", id_table=MODULE_DEVICE_TABLE,
                         probe=pollcard_probe, remove=pollcard_remove)


@module_init
def pollcard_init():
    return driver_register(pollcard_driver)


@module_exit
def pollcard_exit():
    driver_unregister(pollcard_driver)
