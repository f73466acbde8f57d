"""Shared set-up of the kernel and program tests: small modules written inline.

`lab.module("m", body)` writes `m.py` (the kapi import and a licence come first),
`lab.boot(**config)` builds the index of every module written so far and a
kernel on it; `lab.findings()` and `lab.dmesg()` are what the tests look at.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kfuzz.kernel import Kernel, KernelConfig, ModuleIndex

HEADER = 'from kfuzz.kapi import *\n\nMODULE_LICENSE = "{license}"\n'

# The tail of `lab.device(...)`: a misc device /dev/NAME whose file operations are
# whichever of NAME_open, NAME_read, NAME_write, NAME_ioctl, NAME_release, NAME_llseek,
# NAME_flush, NAME_poll, NAME_fasync the body has;
# init calls NAME_setup() first, if the body has one.
DEVICE_TAIL = '''

{name}_fops = FileOperations(
    owner=THIS_MODULE, open=globals().get("{name}_open"), read=globals().get("{name}_read"),
    write=globals().get("{name}_write"), unlocked_ioctl=globals().get("{name}_ioctl"),
    release=globals().get("{name}_release"), llseek=globals().get("{name}_llseek"),
    flush=globals().get("{name}_flush"), poll=globals().get("{name}_poll"),
    fasync=globals().get("{name}_fasync"))
{name}_misc = MiscDevice(name="{name}", fops={name}_fops)


@module_init
def {name}_init():
    setup = globals().get("{name}_setup")
    ret = setup() if setup else 0
    return ret if ret < 0 else misc_register({name}_misc)


@module_exit
def {name}_exit():
    misc_deregister({name}_misc)
'''


class Lab:
    """A folder of module files and the kernel last booted on them."""

    def __init__(self, root: Path):
        self.root = root
        self.paths: list[Path] = []
        self.kernel: Kernel | None = None
        self.files: dict[str, Any] = {}

    def module(self, name: str, body: str, license: str = "GPL") -> Path:
        """Writes NAME.py: the kapi import and MODULE_LICENSE, then the body."""
        text = HEADER.format(license=license) + "\n" + textwrap.dedent(body).lstrip("\n")
        path = self.root / f"{name}.py"
        path.write_text(text)
        if path not in self.paths:
            self.paths.append(path)
        return path

    def device(self, name: str, body: str = "") -> Path:
        """A module with a misc device /dev/NAME: tests drive its callbacks."""
        text = textwrap.dedent(body).lstrip("\n") + DEVICE_TAIL.format(name=name)
        return self.module(name, text)

    def boot(self, **config: Any) -> Kernel:
        self.kernel = Kernel(ModuleIndex.scan(self.paths), KernelConfig(**config))
        self.files = {}
        return self.kernel

    # -- operations --------------------------------------------------------------
    def insmod(self, name: str, **params: Any) -> int:
        return self.kernel.do("insmod", name, {k: str(v) for k, v in params.items()})

    def ioctl(self, name: str, cmd: int = 0, arg: int = 0) -> Any:
        """ioctl on /dev/NAME, opened once and kept open."""
        if name not in self.files:
            file = self.kernel.do("open", f"/dev/{name}")
            assert not isinstance(file, int) and file is not None, (file, self.dmesg())
            self.files[name] = file
        return self.kernel.do("ioctl", self.files[name], cmd, arg)

    # -- what the tests look at ----------------------------------------------------
    def ns(self, name: str) -> dict[str, Any]:
        """The namespace (module-level variables) of the loaded module NAME."""
        return self.kernel.loader.modules[name].namespace

    def findings(self) -> list[tuple[str, str]]:
        return [(f.kind, f.title) for f in self.kernel.findings]

    def finding(self):
        assert len(self.kernel.findings) == 1, (self.findings(), self.dmesg())
        return self.kernel.findings[0]

    def dmesg(self) -> str:
        return "\n".join(self.kernel.log.dmesg())

    def lsmod(self) -> list[str]:
        return self.kernel.loader.lsmod()[1:]


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server of the test session's own (see redis_server.py)."""
    from redis_server import redis_server

    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def fresh_redis(redis_url: str) -> str:
    """The session's Redis, emptied for one test."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    return redis_url
