"""Campaigns as tasks on a Dask distributed cluster (`kfuzz fuzz --cluster ADDRESS`)."""

from .client import fuzz_on_cluster

__all__ = ["fuzz_on_cluster"]
