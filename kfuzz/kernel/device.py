"""Buses, devices and drivers: probe, remove, devres and hotplug autoload."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import titles
from .current import current
from .errno import EBUSY, EINVAL, ENODEV, ENOMEM, EPERM, errname
from .faults import should_fail
from .frames import caller_site
from .kmutex import KernelMutex
from .misuse import expect
from .sched import Wait
from .subsystem import Leftover

if TYPE_CHECKING:
    from .core import Kernel
    from .frames import Site
    from .module import Module

BUSES = ("pci", "usb", "platform")
PCI_ANY_ID = 0xFFFF
FIRST_IRQ = 16


@dataclass(frozen=True)
class DeviceId:
    """One entry of a device table: `pci_device_id(0x8086, 0x1234)`."""

    bus: str
    vendor: int = 0
    device: int = 0
    name: str = ""

    def matches(self, other: DeviceId) -> bool:
        if self.bus != other.bus:
            return False
        if self.bus == "platform":
            return self.name == other.name
        return (self.vendor in (PCI_ANY_ID, other.vendor)
                and self.device in (PCI_ANY_ID, other.device))

    def format(self) -> str:
        return self.name if self.bus == "platform" else f"{self.vendor:04x}:{self.device:04x}"

    @property
    def modalias(self) -> str:
        if self.bus == "platform":
            return f"platform:{self.name}"
        letter = "v" if self.bus == "pci" else "v"
        return f"{self.bus}:{letter}{self.vendor:08X}d{self.device:08X}"


def pci_device_id(vendor: int, device: int) -> DeviceId:
    return DeviceId("pci", vendor, device)


def usb_device_id(vendor: int, product: int) -> DeviceId:
    return DeviceId("usb", vendor, product)


def platform_device_id(name: str) -> DeviceId:
    return DeviceId("platform", name=name)


def parse_device_id(bus: str, text: str) -> DeviceId:
    """`8086:1234` for pci and usb, a name for platform; ValueError otherwise."""
    if bus not in BUSES:
        raise ValueError(f"unknown bus '{bus}' (expected one of {', '.join(BUSES)})")
    if bus == "platform":
        if not text:
            raise ValueError("a platform device id is a name")
        return DeviceId("platform", name=text)
    vendor, sep, device = text.partition(":")
    try:
        if not sep or len(vendor) != 4 or len(device) != 4:
            raise ValueError
        return DeviceId(bus, int(vendor, 16), int(device, 16))
    except ValueError:
        raise ValueError(f"a {bus} device id is vvvv:dddd in hex, not '{text}'") from None


@dataclass(eq=False)
class Driver:
    name: str
    bus: str
    id_table: list[DeviceId] = field(default_factory=list)
    # module code: probe, suspend and resume should give 0 or -errno; the kernel checks
    probe: Callable[[Device, DeviceId], object] | None = None
    remove: Callable[[Device], object] | None = None
    suspend: Callable[[Device], object] | None = None
    resume: Callable[[Device], object] | None = None
    owner: Module | None = None
    registered: bool = False
    site: Site | None = None
    busy: int = 0  # probes and sysfs unbinds through it in flight: driver_unregister waits for them

    def match(self, dev_id: DeviceId) -> DeviceId | None:
        return next((e for e in self.id_table if e.matches(dev_id)), None)


@dataclass(eq=False)
class Device:
    name: str
    bus: str
    id: DeviceId
    irq: int
    driver: Driver | None = None
    drvdata: Any = None  # the driver's: whatever it sets, for it to read back
    devres: list[tuple[str, Callable[[], object]]] = field(default_factory=list)
    present: bool = True
    # device_lock (drivers/base/dd.c): held around probe, remove, bind and unbind
    lock: KernelMutex = field(default_factory=lambda: KernelMutex("device_lock"))

    @property
    def driver_name(self) -> str:
        return self.driver.name if self.driver else self.bus

    def __repr__(self) -> str:
        return f"<device {self.name} {self.id.format()}>"


def dev_set_drvdata(dev: Device, data: object) -> None:
    dev.drvdata = data


def dev_get_drvdata(dev: Device) -> Any:
    return dev.drvdata


class Bus:
    """All devices and drivers of the kernel, the three buses together."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.devices: list[Device] = []
        self.drivers: list[Driver] = []
        self.bind_order: list[Device] = []
        self._plugged = 0
        # a bus core's own clean-up once a device is unbound and gone (usb_disconnect's
        # usb_disable_device, kernel/usb.py)
        self.on_unplug: list[Callable[[Device], object]] = []

    # -- driver side ----------------------------------------------------------
    def register(self, drv: Driver) -> int:
        kernel = self.kernel
        kernel.locking.might_sleep("driver_register")  # bus_add_driver: kzalloc(GFP_KERNEL)
        if should_fail("driver_register"):
            return -ENOMEM
        if drv.bus not in BUSES:
            kernel.log.write(f"Driver '{drv.name}' was unable to register with bus_type '{drv.bus}'")
            return -EINVAL
        if drv.registered or any(d.name == drv.name and d.bus == drv.bus for d in self.drivers):
            kernel.log.write(f"Error: Driver '{drv.name}' is already registered, aborting...")
            return -EBUSY
        drv.owner = kernel.current_module()
        if kernel.kcsan is not None:  # the bus's klist: registering happens before each probe
            kernel.kcsan.release(drv)
        drv.registered = True
        drv.site = caller_site()
        self.drivers.append(drv)
        for dev in list(self.devices):
            if dev.driver is None and dev.present:
                self.try_bind(dev, drv)
        return 0

    def unregister(self, drv: Driver) -> None:
        """driver_unregister (drivers/base/driver.c): the WARN for a driver never
        registered comes first; then bus_remove_driver takes device locks (mutexes)
        and driver_detach (drivers/base/dd.c) unbinds from the list's tail: the device
        bound last is removed first."""
        if drv not in self.drivers:
            self.kernel.warn(titles.DRIVER_UNREGISTER_UNKNOWN,
                             f"driver_unregister() of '{drv.name}', which is not registered")
            return
        kernel = self.kernel
        kernel.locking.might_sleep("driver_unregister")
        self.drivers.remove(drv)  # bus_remove_driver: no new probe finds it
        drv.registered = False
        if drv.busy:  # klist_remove and the bind files' kernfs drain wait for those in flight
            kernel.sched.block(Wait(f"driver_unregister: {drv.busy} probe(s) of {drv.name} in flight",
                                    lambda: not drv.busy))
        if kernel.kcsan is not None:
            kernel.kcsan.acquire(drv)
        for dev in reversed(list(self.bind_order)):
            if dev.driver is drv:
                self.unbind(dev)

    def try_bind(self, dev: Device, drv: Driver) -> bool:
        """`__driver_probe_device` under `device_lock`: a device that meanwhile got a
        driver, or went, is left alone."""
        entry = drv.match(dev.id)
        if entry is None:
            return False
        kernel = self.kernel
        drv.busy += 1
        try:
            with dev.lock.held(kernel):
                if dev.driver is not None or not dev.present or not drv.registered:
                    return False
                return self._probe(dev, drv, entry)
        finally:
            drv.busy -= 1
            if kernel.kcsan is not None:  # a probe happens before driver_unregister's detach
                kernel.kcsan.release(drv)

    def _probe(self, dev: Device, drv: Driver, entry: DeviceId) -> bool:
        kernel = self.kernel
        if kernel.kcsan is not None:
            kernel.kcsan.acquire(drv)
        dev.driver = drv
        ret = kernel.call(drv.probe, dev, entry) if drv.probe else 0
        if isinstance(ret, int) and ret < 0:
            kernel.log.write(f"{drv.name}: probe of {dev.name} failed with error {ret}")
            self.release_devres(dev)
            dev.driver = None
            dev.drvdata = None
            return False
        self.bind_order.append(dev)
        return True

    def unbind(self, dev: Device) -> None:
        """`device_release_driver` under `device_lock`: remove, then devres."""
        with dev.lock.held(self.kernel):
            drv = dev.driver
            if drv is None:
                return
            if drv.remove:
                self.kernel.call(drv.remove, dev)
            self.release_devres(dev)
            self.bind_order.remove(dev)
            dev.driver = None
            dev.drvdata = None

    def release_devres(self, dev: Device) -> None:
        while dev.devres:
            _, release = dev.devres.pop()
            release()

    # -- device side: what user space does ---------------------------------------
    def plug(self, dev_id: DeviceId, setup: Callable[[Device], object] | None = None) -> Device | int:
        """A new device; `setup` describes it before any driver probes it (a usb
        device's descriptors, kernel/usb.py)."""
        kernel = self.kernel
        if kernel.uid != 0:
            return -EPERM
        n = self._plugged
        self._plugged += 1
        name = {"pci": f"0000:00:{n + 1:02x}.0", "usb": f"1-{n + 1}"}.get(
            dev_id.bus, f"{dev_id.name}.{n}")
        dev = Device(name, dev_id.bus, dev_id, FIRST_IRQ + n)
        if setup is not None:
            setup(dev)
        self.devices.append(dev)
        kernel.log.write(f"{dev.bus} {dev.name}: [{dev_id.format()}] new device, irq {dev.irq}")
        for drv in list(self.drivers):
            if dev.driver is None and self.try_bind(dev, drv):
                break
        if dev.driver is None and kernel.config.autoload:
            self.autoload(dev)
        return dev

    def autoload(self, dev: Device) -> None:
        """udev's MODALIAS handling: modprobe every module whose table matches."""
        kernel = self.kernel
        for name in kernel.index.modules_for_device(dev.id):
            if name in kernel.loader.modules:
                continue
            ret = kernel.loader.modprobe(name, {})
            if ret < 0:
                kernel.log.write(f"udev: modprobe {name} ({dev.id.modalias}) failed: {errname(ret)}")
            if dev.driver is not None:
                break

    def unplug(self, dev: Device) -> int:
        kernel = self.kernel
        if kernel.uid != 0:
            return -EPERM
        if not dev.present:
            return -EINVAL
        dev.present = False  # device_del: no new probe from here on
        self.unbind(dev)
        for hook in self.on_unplug:
            hook(dev)
        self.devices.remove(dev)
        kernel.log.write(f"{dev.bus} {dev.name}: device removed")
        return 0

    def bind_device(self, dev: Device) -> int:
        """`echo NAME > /sys/bus/*/drivers/DRV/bind`: probe with the first matching driver."""
        if self.kernel.uid != 0:
            return -EPERM
        if not dev.present:
            return -ENODEV
        if dev.driver is not None:
            return -EBUSY
        for drv in list(self.drivers):
            if self.try_bind(dev, drv):
                return 0
        return -ENODEV

    def unbind_device(self, dev: Device) -> int:
        """`echo NAME > /sys/bus/*/drivers/DRV/unbind`: remove, release devres, stay plugged."""
        if self.kernel.uid != 0:
            return -EPERM
        drv = dev.driver
        if not dev.present or drv is None:
            return -ENODEV
        drv.busy += 1  # a writer of the driver's unbind file: its removal waits for it
        try:
            self.unbind(dev)
        finally:
            drv.busy -= 1
        return 0

    def owned_by(self, mod: Module) -> list[Driver]:
        return [d for d in self.drivers if d.owner is mod]

    def leftovers(self, mod: Module) -> list[Leftover]:
        return [Leftover("driver", d.name, d.site) for d in self.owned_by(mod)]

    def owners(self) -> Iterable[Module | None]:
        return (d.owner for d in self.drivers)


def driver_register(drv: Driver) -> int:
    expect("driver_register", "the driver", drv, Driver, "a Driver(name=, bus=, id_table=, probe=)")
    return current().bus.register(drv)


def driver_unregister(drv: Driver) -> None:
    expect("driver_unregister", "the driver", drv, Driver, "the Driver driver_register took")
    current().bus.unregister(drv)


pci_register_driver = driver_register
pci_unregister_driver = driver_unregister
platform_driver_register = driver_register
platform_driver_unregister = driver_unregister
