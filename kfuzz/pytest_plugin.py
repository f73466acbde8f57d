"""The kfuzz pytest plugin (entry point `pytest11`): a `kernel` fixture for module tests.

    def test_write_stays_in_bounds(kernel):
        outcome = kernel.run("insmod mymod\\nopen /dev/mymod -> fd0\\nwrite fd0 \\"hello\\"")
        assert_clean(outcome)

Module files are found on the module path: the `kfuzz_module_path` ini option
(relative to the ini file's folder), else `module_path` under `[tool.kfuzz]` in the
nearest pyproject.toml from pytest's rootdir upwards. That table's `op_timeout`
and `[tool.kfuzz.kernel]` settings apply too. A bad configuration fails the tests
that use the fixture, with the file, key and fix; it leaves other tests alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .config import Config, ConfigError, load_config
from .testing import KernelRunner

INI = "kfuzz_module_path"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(INI, "folder of module files for the kfuzz `kernel` fixture "
                       "(default: module_path under [tool.kfuzz] in pyproject.toml)", default="")


@pytest.fixture(scope="session")
def kfuzz_config(pytestconfig: pytest.Config) -> Config:
    """`[tool.kfuzz]` of the nearest pyproject.toml from the rootdir upwards (empty when none)."""
    try:
        return load_config(pytestconfig.rootpath)
    except ConfigError as err:
        pytest.fail(str(err), pytrace=False)


def module_path(pytestconfig: pytest.Config, config: Config) -> Path | None:
    """The folder a program's insmod and modprobe lines find their modules in."""
    value = str(pytestconfig.getini(INI) or "").strip()
    if value:
        base = pytestconfig.inipath.parent if pytestconfig.inipath else pytestconfig.rootpath
        folder = base / value
        if not folder.is_dir():
            pytest.fail(f"{pytestconfig.inipath or 'ini'}: {INI} = {value}: no such folder ({folder}); "
                        f"give a folder of module files, relative to the ini file", pytrace=False)
        return folder
    path = config.values.get("module_path")
    return Path(path) if path is not None else None


@pytest.fixture
def kernel(request: pytest.FixtureRequest, pytestconfig: pytest.Config,
           kfuzz_config: Config) -> Iterator[KernelRunner]:
    """Runs programs on fresh kernels in a worker subprocess: `kernel.run(TEXT)`, `kernel.run_file(PATH)`."""
    runner = KernelRunner(module_path(pytestconfig, kfuzz_config), request.path.parent,
                          float(kfuzz_config.values.get("op_timeout", 1.0)), kfuzz_config.kernel,
                          where=f"{request.node.nodeid}: kernel.run")
    with runner:
        yield runner
