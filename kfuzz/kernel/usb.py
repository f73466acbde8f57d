"""The USB core's devices, interfaces and interface drivers (drivers/usb/core/usb.c,
driver.c, message.c's usb_disable_interface, hub.c's usb_disconnect).

A plugged usb device is a `UsbDevice` (`struct usb_device`) with one configuration
of one interface (`UsbInterface`), whose endpoints the fuzzer chose (usbdesc.py). A
`UsbDriver` (`struct usb_driver`) registers a driver-core `Driver` on the usb bus
whose probe and remove are the core's: probe gets the interface (usb_probe_interface),
and before disconnect the core cancels the interface's URBs with -ESHUTDOWN
(usb_unbind_interface -> usb_disable_interface -> usb_hcd_flush_endpoint), after
rmmod, unbind or unplug alike. Old-style `Driver(bus="usb", probe=fn(dev, id))`
modules bind to the same devices and see the bus `Device`, as before.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .current import Task, current
from .device import Device, DeviceId, Driver, driver_register, driver_unregister, usb_device_id
from .errno import ENODEV, ENOTTY, EPERM
from .frames import Site, caller_site
from .kmutex import KernelMutex
from .moduledriver import module_driver
from .refcount import Refcount, refcount_dec_and_test, refcount_inc
from .usbdesc import (
    DEFAULT_ENDPOINTS,
    USB_DIR_IN,
    USB_ENDPOINT_XFER_CONTROL,
    EndpointArray,
    Endpoints,
    UsbEndpointDescriptor,
    UsbHostEndpoint,
    UsbHostInterface,
    UsbInterfaceDescriptor,
    usb_endpoint_dir_in,
    usb_endpoint_num,
)

if TYPE_CHECKING:
    from .core import Kernel
    from .mm import Buffer
    from .urb import UrbState

# include/linux/usb/ch9.h enum usb_device_state, enum usb_device_speed
USB_STATE_NOTATTACHED = 0
USB_STATE_CONFIGURED = 7
USB_SPEED_HIGH = 3
# include/linux/usb.h enum usb_interface_condition
USB_INTERFACE_UNBOUND, USB_INTERFACE_BINDING, USB_INTERFACE_BOUND, USB_INTERFACE_UNBINDING = range(4)
@dataclass(frozen=True)
class PmMessage:
    """`pm_message_t`: a driver's suspend reads `message.event` (include/linux/pm.h)."""

    event: int


PM_EVENT_SUSPEND = 0x0002
PMSG_SUSPEND = PmMessage(PM_EVENT_SUSPEND)

USB_DEVICE = usb_device_id  # include/linux/usb.h: an id-table entry matching vendor and product


@dataclass(eq=False)
class UsbDeviceDescriptor:
    """`struct usb_device_descriptor` (the fields drivers read)."""

    idVendor: int  # noqa: N815 - Linux's field names
    idProduct: int  # noqa: N815
    bcdDevice: int = 0x0100  # noqa: N815
    bcdUSB: int = 0x0200  # noqa: N815
    bDeviceClass: int = 0  # noqa: N815
    bMaxPacketSize0: int = 64  # noqa: N815
    bNumConfigurations: int = 1  # noqa: N815
    # string descriptor indices: the fuzzer's device has no strings (0 is "none")
    iManufacturer: int = 0  # noqa: N815
    iProduct: int = 0  # noqa: N815
    iSerialNumber: int = 0  # noqa: N815


@dataclass(eq=False)
class UsbConfigDescriptor:
    """`struct usb_config_descriptor` of the one configuration (bMaxPower in 2 mA units)."""

    bNumInterfaces: int = 1  # noqa: N815
    bConfigurationValue: int = 1  # noqa: N815
    iConfiguration: int = 0  # noqa: N815
    bmAttributes: int = 0x80  # noqa: N815 - USB_CONFIG_ATT_ONE, bus-powered
    bMaxPower: int = 50  # noqa: N815 - 100 mA


@dataclass(eq=False)
class UsbHostConfig:
    """`struct usb_host_config`, `udev->actconfig`: its descriptor and its interfaces
    (`interface[0]`, the one the fuzzer's device has)."""

    desc: UsbConfigDescriptor = field(default_factory=UsbConfigDescriptor)
    interface: list[UsbInterface] = field(default_factory=list)


@dataclass(eq=False)
class UsbDevice:
    """`struct usb_device`: ep0 and the endpoints by number (ep_in, ep_out), for pipes
    to find. `dev` is the device logging names (`dev_err(&udev->dev, ...)`)."""

    dev: Device
    descriptor: UsbDeviceDescriptor
    devnum: int
    ep0: UsbHostEndpoint
    ep_in: list[UsbHostEndpoint | None]
    ep_out: list[UsbHostEndpoint | None]
    bus_dev: Device  # the bus device drivers bind to: present until unplugged
    speed: int = USB_SPEED_HIGH
    quirks: int = 0
    actconfig: UsbHostConfig = field(default_factory=UsbHostConfig)
    refs: Refcount = field(default_factory=Refcount)

    @property
    def state(self) -> int:
        """USB_STATE_NOTATTACHED from usb_disconnect on (hub.c sets it first)."""
        return USB_STATE_CONFIGURED if self.bus_dev.present else USB_STATE_NOTATTACHED

    @property
    def name(self) -> str:
        return self.dev.name

    def endpoint(self, address: int) -> UsbHostEndpoint | None:
        """The endpoint of an address (0x81: number 1, in); 0 and 0x80 are ep0."""
        number = address & 0x0F
        if number == 0:
            return self.ep0
        return (self.ep_in if address & USB_DIR_IN else self.ep_out)[number]

    def __repr__(self) -> str:
        return f"<usb_device {self.name} {self.descriptor.idVendor:04x}:{self.descriptor.idProduct:04x}>"


@dataclass(eq=False)
class UsbInterface:
    """`struct usb_interface`. Its `dev` is the bus device a driver binds to, so
    usb_set_intfdata is dev_set_drvdata(&intf->dev) as in Linux."""

    dev: Device
    udev: UsbDevice
    altsetting: list[UsbHostInterface]
    cur_altsetting: UsbHostInterface
    num_altsetting: int = 1
    minor: int = -1  # its usb class minor (usbclass.py), -1 without one
    condition: int = USB_INTERFACE_UNBOUND
    pm_usage_cnt: int = 0
    needs_remote_wakeup: int = 0
    refs: Refcount = field(default_factory=Refcount)

    @property
    def name(self) -> str:
        return self.dev.name

    def __repr__(self) -> str:
        return f"<usb_interface {self.name}:1.{self.cur_altsetting.desc.bInterfaceNumber}>"


@dataclass(eq=False)
class UsbDriver:
    """`struct usb_driver`: probe(intf, id) gives 0 or -errno; disconnect(intf);
    pre_reset/post_reset(intf) around a reset; suspend(intf, message)/resume(intf).
    `driver` is the driver-core driver usb_register made of it."""

    name: str
    probe: Callable[[UsbInterface, DeviceId], object] | None = None
    disconnect: Callable[[UsbInterface], object] | None = None
    id_table: list[DeviceId] = field(default_factory=list)
    suspend: Callable[[UsbInterface, int], object] | None = None
    resume: Callable[[UsbInterface], object] | None = None
    pre_reset: Callable[[UsbInterface], object] | None = None
    post_reset: Callable[[UsbInterface], object] | None = None
    supports_autosuspend: int = 0
    soft_unbind: int = 0
    driver: Driver | None = None


class UsbCore:
    """One kernel's USB core: the usb devices, the URBs (urb.py keeps their state),
    the class minors (usbclass.py) and the warnings given once per boot."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.devices: dict[Device, UsbDevice] = {}
        self.urbs: weakref.WeakKeyDictionary[Buffer, UrbState] = weakref.WeakKeyDictionary()
        self.minors: dict[int, Any] = {}
        self.minor_rwsem = KernelMutex("minor_rwsem")  # drivers/usb/core/file.c, held across usb_open
        self.warned: set[str] = set()
        self.drivers: dict[Driver, UsbDriver] = {}  # to_usb_driver: each registered driver's usb_driver
        self.dma = 0x10000  # the next dummy dma_addr_t
        # the task running completion handlers, as the host controller's giveback BH
        # (hcd.c usb_giveback_urb_bh) runs them one at a time; None when none runs
        self.bh: Task | None = None
        kernel.bus.on_unplug.append(self.disconnect)

    def plug(self, dev_id: DeviceId, endpoints: Endpoints = DEFAULT_ENDPOINTS) -> Device | int:
        """`plug usb VVVV:PPPP [ENDPOINTS]`: the device is described before any probe."""
        return self.kernel.bus.plug(dev_id, setup=lambda dev: self._attach(dev, endpoints))

    def device(self, dev: Device) -> UsbDevice:
        """The usb_device of a usb bus device (the default endpoints when it was plugged
        without a word, by the kernel's own tests)."""
        udev = self.devices.get(dev)
        return udev if udev is not None else self._attach(dev, DEFAULT_ENDPOINTS)

    def interface(self, dev: Device) -> UsbInterface:
        return self.device(dev).actconfig.interface[0]

    def _attach(self, dev: Device, endpoints: Endpoints) -> UsbDevice:
        """usb_new_device and usb_set_configuration: descriptors, endpoints, interface 0."""
        descs = endpoints.descriptors()
        ep0 = UsbHostEndpoint(UsbEndpointDescriptor(0, USB_ENDPOINT_XFER_CONTROL, 64))
        ep_in: list[UsbHostEndpoint | None] = [ep0] + [None] * 15
        ep_out: list[UsbHostEndpoint | None] = [ep0] + [None] * 15
        eps = EndpointArray(UsbHostEndpoint(d) for d in descs)
        for ep in eps:
            (ep_in if usb_endpoint_dir_in(ep.desc) else ep_out)[usb_endpoint_num(ep.desc)] = ep
        alt = UsbHostInterface(UsbInterfaceDescriptor(bNumEndpoints=len(eps)), eps)
        descriptor = UsbDeviceDescriptor(dev.id.vendor, dev.id.device)
        # hub_port_connect: the lowest device number no plugged device holds (1 is the root hub)
        taken = {u.devnum for u in self.devices.values() if u.bus_dev.present}
        devnum = next(n for n in range(2, 129) if n not in taken) if len(taken) < 127 else 128
        udev = UsbDevice(Device(dev.name, "usb", dev.id, 0), descriptor, devnum, ep0, ep_in, ep_out, dev)
        udev.actconfig.interface.append(UsbInterface(dev, udev, [alt], alt))
        self.devices[dev] = udev
        return udev

    def disconnect(self, dev: Device) -> None:
        """usb_disconnect's usb_disable_device after the interfaces are unbound: every
        endpoint, ep0 included, is flushed (URBs of a failed probe, say)."""
        udev = self.devices.pop(dev, None)
        if udev is not None:
            from .hcd import flush_endpoint
            for ep in dict.fromkeys(e for e in [*udev.ep_in, *udev.ep_out] if e is not None):
                ep.enabled = False
                flush_endpoint(self.kernel, ep)

    def warn_once(self, key: str, message: str) -> None:
        """dev_WARN_ONCE: the first time this boot, a WARNING titled by the kernel function."""
        from . import titles
        if key not in self.warned:
            self.warned.add(key)
            self.kernel.warn(titles.USB_SUBMIT_URB, message)


# -- registration: usb_register_driver, usb_probe_interface, usb_unbind_interface (driver.c) ----
def usb_register(driver: UsbDriver | Driver) -> int:
    """usb_register_driver: a driver-core driver on the usb bus whose probe and remove
    are the core's. An old-style `Driver` is registered as it is."""
    if isinstance(driver, Driver):
        return driver_register(driver)
    if driver.driver is None:
        driver.driver = Driver(name=driver.name, bus="usb", id_table=driver.id_table,
                               probe=lambda dev, entry: _probe(driver, dev, entry),
                               remove=lambda dev: _unbind(driver, dev),
                               suspend=lambda dev: _suspend(driver, dev),
                               resume=lambda dev: _resume(driver, dev))
    kernel = current()
    kernel.usb.drivers[driver.driver] = driver
    ret = driver_register(driver.driver)
    if ret == 0:
        kernel.log.write(f"usbcore: registered new interface driver {driver.name}")
    return ret


def usb_deregister(driver: UsbDriver | Driver) -> None:
    if isinstance(driver, Driver):
        return driver_unregister(driver)
    kernel = current()
    kernel.log.write(f"usbcore: deregistering interface driver {driver.name}")
    driver_unregister(driver.driver or Driver(name=driver.name, bus="usb"))
    if driver.driver is not None and not driver.driver.registered:
        kernel.usb.drivers.pop(driver.driver, None)


def _probe(driver: UsbDriver, dev: Device, entry: DeviceId) -> object:
    """usb_probe_interface: the driver's probe gets the interface; on an error the
    interface is unbound again, and (as in Linux) nothing cancels URBs it submitted."""
    kernel = current()
    intf = kernel.usb.interface(dev)
    if driver.probe is None:
        return -ENODEV
    intf.condition = USB_INTERFACE_BINDING
    ret = kernel.call(driver.probe, intf, entry)
    failed = isinstance(ret, int) and ret < 0
    intf.condition = USB_INTERFACE_UNBOUND if failed else USB_INTERFACE_BOUND
    return ret


def _unbind(driver: UsbDriver, dev: Device) -> None:
    """usb_unbind_interface: the interface's URBs are cancelled (-ESHUTDOWN) and its
    endpoints disabled, disconnect runs, the endpoints come back. The autopm references
    a driver's open files still hold stay: since Linux 5.1 (c2b71462d294, "USB: core:
    Fix bug caused by duplicate interface PM usage counter") the core no longer undoes
    them, and a driver puts them after its unbind too (usb-skeleton's release does)."""
    from .hcd import usb_disable_interface, usb_enable_interface
    kernel = current()
    intf = kernel.usb.interface(dev)
    intf.condition = USB_INTERFACE_UNBINDING
    # a soft unbind keeps its URBs only while the device is still there
    if not driver.soft_unbind or intf.udev.state == USB_STATE_NOTATTACHED:
        usb_disable_interface(kernel, intf)
    if driver.disconnect is not None:
        kernel.call(driver.disconnect, intf)
    usb_enable_interface(intf)
    intf.condition = USB_INTERFACE_UNBOUND


def _suspend(driver: UsbDriver, dev: Device) -> object:
    if driver.suspend is None:
        return 0
    kernel = current()
    return kernel.call(driver.suspend, kernel.usb.interface(dev), PMSG_SUSPEND)


def _resume(driver: UsbDriver, dev: Device) -> object:
    if driver.resume is None:
        return 0
    kernel = current()
    return kernel.call(driver.resume, kernel.usb.interface(dev))


def module_usb_driver(driver: UsbDriver) -> None:
    """include/linux/usb.h: module_init registers the driver, module_exit deregisters it."""
    site = caller_site()
    module_driver(driver, lambda drv: _register_at(drv, site), usb_deregister, "module_usb_driver",
                  kind=UsbDriver, takes="a UsbDriver(name=..., probe=..., disconnect=..., id_table=...)")


def _register_at(driver: UsbDriver, site: Site | None) -> int:
    ret = usb_register(driver)
    if driver.driver is not None and driver.driver.site is None:
        driver.driver.site = site  # a dangling driver names the module_usb_driver line
    return ret


# -- what drivers call (drivers/usb/core/usb.c, include/linux/usb.h) --------------------------
def interface_to_usbdev(intf: UsbInterface) -> UsbDevice:
    return intf.udev


def usb_get_dev(udev: UsbDevice | None) -> UsbDevice | None:
    if udev is not None:
        refcount_inc(udev.refs)
    return udev


def usb_put_dev(udev: UsbDevice | None) -> None:
    if udev is not None and udev != 0:
        refcount_dec_and_test(udev.refs)


def usb_get_intf(intf: UsbInterface | None) -> UsbInterface | None:
    if intf is not None:
        refcount_inc(intf.refs)
    return intf


def usb_put_intf(intf: UsbInterface | None) -> None:
    if intf is not None and intf != 0:
        refcount_dec_and_test(intf.refs)


def usb_set_intfdata(intf: UsbInterface, data: object) -> None:
    intf.dev.drvdata = data


def usb_get_intfdata(intf: UsbInterface) -> Any:
    return intf.dev.drvdata


# -- runtime PM, counted only (drivers/usb/core/driver.c) --------------------------------------
def usb_autopm_get_interface(intf: UsbInterface) -> int:
    """May resume the device, so it may sleep; then one more user."""
    current().locking.might_sleep("usb_autopm_get_interface")
    intf.pm_usage_cnt += 1
    return 0


def usb_autopm_put_interface(intf: UsbInterface) -> None:
    current().locking.might_sleep("usb_autopm_put_interface")
    _put(intf)


def usb_autopm_get_interface_async(intf: UsbInterface) -> int:
    intf.pm_usage_cnt += 1
    return 0


def usb_autopm_put_interface_async(intf: UsbInterface) -> None:
    _put(intf)


def usb_autopm_get_interface_no_resume(intf: UsbInterface) -> None:
    intf.pm_usage_cnt += 1


def usb_autopm_put_interface_no_suspend(intf: UsbInterface) -> None:
    _put(intf)


def _put(intf: UsbInterface) -> None:
    if intf.pm_usage_cnt <= 0:  # rpm_drop_usage_count (drivers/base/power/runtime.c)
        current().log.write(f"{intf.dev.driver_name} {intf.name}: Runtime PM usage count underflow!")
        return
    intf.pm_usage_cnt -= 1


# -- reset (drivers/usb/core/hub.c usb_reset_device) --------------------------------------------
def usb_reset_device(udev: UsbDevice) -> int:
    """pre_reset of the bound driver, the reset (its interface's URBs flushed, the
    endpoints re-enabled), then post_reset; a driver without both is unbound and
    bound again instead. The caller holds the device lock."""
    from .hcd import usb_disable_interface, usb_enable_interface
    kernel = current()
    kernel.locking.might_sleep("usb_reset_device")
    if udev.state == USB_STATE_NOTATTACHED:
        return -ENODEV
    intf, bus = udev.actconfig.interface[0], kernel.bus
    drv = intf.dev.driver
    udrv = kernel.usb.drivers.get(drv) if drv is not None else None
    if drv is not None and (udrv is None or udrv.pre_reset is None or udrv.post_reset is None):
        bus.unbind(intf.dev)  # usb_forced_unbind_intf, then usb_rebind_intf
        usb_disable_interface(kernel, intf)
        usb_enable_interface(intf)
        for other in list(bus.drivers):
            if bus.try_bind(intf.dev, other):
                break
        return 0
    if udrv is not None and udrv.pre_reset is not None:
        kernel.call(udrv.pre_reset, intf)
    usb_disable_interface(kernel, intf)
    usb_enable_interface(intf)
    kernel.log.write(f"usb {udev.name}: reset high-speed USB device number {udev.devnum}")
    if udrv is not None and udrv.post_reset is not None:
        kernel.call(udrv.post_reset, intf)
    return 0


def usb_reset(kernel: Kernel, dev: Device) -> int:
    """`reset devN`: what a driver's usb_queue_reset_device, or usbfs's USBDEVFS_RESET, does."""
    if kernel.uid != 0:
        return -EPERM
    if not dev.present:
        return -ENODEV
    if dev.bus != "usb":  # usbfs's reset is a usb device's
        return -ENOTTY
    with dev.lock.held(kernel):
        return usb_reset_device(kernel.usb.device(dev))

