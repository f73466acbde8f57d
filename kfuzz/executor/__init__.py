"""Where kernels run: a worker subprocess (fork) or this process (inprocess)."""

from .session import KernelSession, Reply
from .worker import ForkExecutor, InProcessExecutor, make_executor

__all__ = ["ForkExecutor", "InProcessExecutor", "KernelSession", "Reply", "make_executor"]
