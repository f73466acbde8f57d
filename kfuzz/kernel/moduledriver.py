"""module_driver and its bus forms (include/linux/device/driver.h, platform_device.h,
pci.h): one line that is the module's init and exit, registering the driver and
unregistering it.

The macro defines `DRIVER_init` and `DRIVER_exit` in the module; here they are made
as functions of the module (its globals, its file, the macro's line), so a title and
a fault site name them as module code, and the loader calls them as any @module_init.
"""

from __future__ import annotations

from collections.abc import Callable
from types import FunctionType
from typing import Any

from .current import current
from .device import Driver, driver_register, driver_unregister
from .frames import Site, caller_site
from .misuse import expect, misuse


def _in_module(fn: Callable[..., object], namespace: dict[str, object], name: str,
               site: Site | None) -> Callable[..., object]:
    """`fn` (whose body is one line), as a function of the module whose globals are
    `namespace`, called `name`, its body at the module's line that wrote the macro."""
    code = fn.__code__.replace(co_name=name, co_qualname=name)
    if site is not None:
        code = code.replace(co_filename=site.filename, co_firstlineno=site.lineno - 1)
    return FunctionType(code, namespace, name, None, fn.__closure__)


def module_driver(drv: Any, register: Callable[[Any], int], unregister: Callable[[Any], None],
                  api: str = "module_driver", bus: str = "", kind: type = Driver,
                  takes: str = "a Driver(name=..., bus=..., id_table=..., probe=...)") -> None:
    """Defines `VAR_init` and `VAR_exit`, VAR the module global holding the driver, as
    the macro pastes `__driver##_init` (`yurex_driver_init`)."""
    expect(api, "the driver", drv, kind, takes)
    if bus and drv.bus != bus:
        raise misuse(api, "the driver", drv.bus, f"a Driver of bus '{bus}'")
    mod, _, _ = current().loader.loading_module(api)
    site = caller_site()
    var = next((k for k, v in mod.namespace.items() if v is drv and k.isidentifier()), None) or \
        "".join(c if c.isalnum() else "_" for c in drv.name)

    def init() -> int:
        return register(drv)

    def exit() -> None:
        unregister(drv)

    mod.init = _in_module(init, mod.namespace, f"{var}_init", site)
    mod.exit = _in_module(exit, mod.namespace, f"{var}_exit", site)


def module_platform_driver(drv: Driver) -> None:
    module_driver(drv, driver_register, driver_unregister, "module_platform_driver", "platform")


def module_pci_driver(drv: Driver) -> None:
    module_driver(drv, driver_register, driver_unregister, "module_pci_driver", "pci")
