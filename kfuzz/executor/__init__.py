"""Where kernels run: a worker subprocess (fork) or this process (inprocess)."""

from .inprocess import InProcessExecutor
from .protocol import Executor
from .worker import ForkExecutor, make_executor

__all__ = ["Executor", "ForkExecutor", "InProcessExecutor", "make_executor"]
