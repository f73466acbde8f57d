"""deltimer: PCI sensor card polled by a timer that remove stops with del_timer().

Each card (pci 1b36:0110; the driver takes two) is sampled by a self-re-arming
timer every jiffy: the callback finds its state through timer.data, reads the
sensor register under st.hw_lock, then counts the sample and re-arms under
st.lock. remove sets st.stopping (so the callback stops re-arming), disarms the
timer and kfree()s the state.

BUG (unloaded-code): remove disarms with del_timer(), which does not wait for a
callback running on another CPU (del_timer_sync() does). A callback that has
read timer.data and waits for a spinlock while rmmod runs (driver_unregister
calls remove for each card, then the module goes) goes on, after the kfree and
the unload, in the module's freed code and the card's freed state. A tick before the
rmmod leaves the timer armed, and del_timer() disarms it; an rmmod before the
tick leaves nothing to fire. The rmmod must come inside the callback:

    together
      t1: tick 10
      t2: rmmod deltimer
    schedule: t1 at spin_lock -> t2

Expected: "BUG: unable to handle page fault in deltimer_poll". (With an unplug or
an unbind in place of the rmmod the module stays, and the callback reads the
freed state: "KASAN: use-after-free in deltimer_poll".) (pollcard.py is the
correct version: del_timer_sync().)
"""
from kfuzz.kapi import *

MODULE_LICENSE = "GPL"
MODULE_DESCRIPTION = "PCI sensor card (del_timer on remove)"
MODULE_DEVICE_TABLE = [pci_device_id(0x1B36, 0x0110)]

DELTIMER_POLL = 1    # jiffies between two samples
DELTIMER_CARDS = 2   # cards the driver takes

deltimer_cards_lock = mutex_init()
deltimer_cards = 0       # cards bound, under deltimer_cards_lock


def deltimer_get_card():
    global deltimer_cards
    mutex_lock(deltimer_cards_lock)
    ok = deltimer_cards < DELTIMER_CARDS
    if ok:
        deltimer_cards += 1
    mutex_unlock(deltimer_cards_lock)
    return ok


def deltimer_put_card():
    global deltimer_cards
    mutex_lock(deltimer_cards_lock)
    deltimer_cards -= 1
    mutex_unlock(deltimer_cards_lock)


def deltimer_poll(timer):
    """The poll timer (softirq): read the card's sensor register (under hw_lock),
    count the sample and re-arm (under st.lock)."""
    st = timer.data
    spin_lock(st.hw_lock)  # BUG (remove's): st, and the module, may be freed meanwhile
    st.sensor = (st.sensor + 3) & 0xFF  # readl() of the sensor: the model card counts up
    value = st.sensor
    spin_unlock(st.hw_lock)
    spin_lock(st.lock)
    st.samples += 1
    st.last = value
    if not st.stopping:
        mod_timer(timer, jiffies() + DELTIMER_POLL)
    spin_unlock(st.lock)


def deltimer_probe(dev, id):
    if not deltimer_get_card():
        return -ENOSPC
    st = kzalloc(48)
    if st is None:
        deltimer_put_card()
        return -ENOMEM
    st.lock = spin_lock_init()
    st.hw_lock = spin_lock_init()
    st.timer = timer_setup(deltimer_poll)
    st.timer.data = st
    dev_set_drvdata(dev, st)
    mod_timer(st.timer, jiffies() + DELTIMER_POLL)
    return 0


def deltimer_remove(dev):
    st = dev_get_drvdata(dev)
    spin_lock_bh(st.lock)
    st.stopping = True            # the callback does not re-arm from now on
    samples = st.samples
    spin_unlock_bh(st.lock)
    del_timer(st.timer)           # BUG: a callback running now goes on after the kfree
    dev_info(dev, f"deltimer: {samples} samples")
    kfree(st)
    deltimer_put_card()


deltimer_driver = Driver(name="deltimer", bus="pci", id_table=MODULE_DEVICE_TABLE,
                         probe=deltimer_probe, remove=deltimer_remove)


@module_init
def deltimer_init():
    return driver_register(deltimer_driver)


@module_exit
def deltimer_exit():
    driver_unregister(deltimer_driver)
