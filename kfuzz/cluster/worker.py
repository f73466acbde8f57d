"""`kfuzz worker ADDRESS`: a Dask worker that may fork kernel workers.

Dask's worker processes are daemonic by default, and a daemonic process may not
have children; a campaign needs one (its kernel worker). This is the same as

    DASK_DISTRIBUTED__WORKER__DAEMON=False dask worker ADDRESS --nthreads 1 --nworkers N

on a machine where kfuzz is installed (pip install 'kfuzz[cluster]').
"""

from __future__ import annotations

import os


def address_problem(address: str) -> str | None:
    """Why ADDRESS is no scheduler address (tcp://HOST:PORT), or None when it is one."""
    from distributed.comm import parse_address, parse_host_port

    try:
        _, location = parse_address(address)
        parse_host_port(location)
    except ValueError as err:
        return (f"{address}: not a scheduler address ({err}); give tcp://HOST:PORT, as dask scheduler "
                f"prints it")
    return None


def worker_args(address: str, nworkers: int, name: str | None) -> list[str]:
    """The `dask worker` arguments: one thread a process, so a campaign has a core."""
    args = [address, "--nthreads", "1", "--nworkers", str(nworkers)]
    return args + (["--name", name] if name else [])


def run_worker(address: str, nworkers: int, name: str | None = None) -> None:
    import dask

    os.environ["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"  # for the worker processes it starts
    dask.config.set({"distributed.worker.daemon": False})
    from distributed.cli.dask_worker import main as dask_worker

    dask_worker.main(worker_args(address, nworkers, name), prog_name="kfuzz worker")
