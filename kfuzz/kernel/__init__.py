"""The simulated kernel: a file per subsystem, modelled on Linux."""

from . import titles
from .core import Kernel, KernelConfig
from .findings import Finding, FrameRef, KernelStop, Kind
from .image import ModuleFileError, ModuleImage, read_image
from .index import ModuleIndex

__all__ = ["Finding", "FrameRef", "Kernel", "KernelConfig", "KernelStop", "Kind", "ModuleFileError",
           "ModuleImage", "ModuleIndex", "read_image", "titles"]
