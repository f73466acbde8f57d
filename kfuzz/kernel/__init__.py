"""The simulated kernel: a file per subsystem, modelled on Linux."""

from .core import Kernel, KernelConfig
from .findings import Finding, KernelStop
from .image import ModuleFileError, ModuleImage, read_image
from .index import ModuleIndex

__all__ = ["Finding", "Kernel", "KernelConfig", "KernelStop", "ModuleFileError",
           "ModuleImage", "ModuleIndex", "read_image"]
