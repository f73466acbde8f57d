"""depmod: the set of installed module files, their symbols and dependencies.

Built once per run and shared by every kernel of the run; it never changes.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from ..textfile import Unreadable, check_file
from .device import DeviceId
from .image import ModuleFileError, ModuleImage, cached_image

SKIP_DIRS = {"__pycache__", "examples"}
# a device's MODALIAS as DeviceId.modalias writes it
MODALIAS = re.compile(r"(pci|usb):v([0-9A-Fa-f]{8})d([0-9A-Fa-f]{8})\Z|platform:(.+)\Z", re.DOTALL)


def module_files(root: Path) -> list[Path]:
    """Module files of a folder, recursively; a file is itself. A folder whose name
    ends in .py is searched, not read; anything else of such a name (a FIFO, a link
    to nothing) is kept, for reading to refuse by name."""
    root = Path(root)
    try:
        if not stat.S_ISDIR(os.stat(root).st_mode):
            return [root]
    except (OSError, ValueError):
        try:
            check_file(root, "module file or folder")
        except Unreadable as err:
            raise ModuleFileError.unreadable(root, err) from None
        return [root]
    return sorted(p for p in root.rglob("*.py")
                  if p.name != "__init__.py" and not p.name.startswith(("test_", "conftest"))
                  and not SKIP_DIRS & set(p.relative_to(root).parts[:-1]) and not p.is_dir())


class ModuleIndex:
    def __init__(self, images: Iterable[ModuleImage] = ()):
        self.images: dict[str, ModuleImage] = {}
        self.exporters: dict[str, str] = {}
        for image in images:
            self.add(image)

    @classmethod
    def scan(cls, paths: Iterable[Path]) -> ModuleIndex:
        index = cls()
        for root in paths:
            for path in module_files(Path(root)):
                index.add(cached_image(path), replace=Path(root).is_file())
        return index

    def add(self, image: ModuleImage, replace: bool = False) -> None:
        old = self.images.get(image.name)
        if old is not None and old.path.resolve() != image.path.resolve() and not replace:
            raise ModuleFileError(image.path, 1, f"module name '{image.name}' is also {old.path}",
                                  "module names must be unique: rename one of the files")
        self.images[image.name] = image
        for sym in image.exports:
            self.exporters.setdefault(sym, image.name)

    def get(self, name: str) -> ModuleImage | None:
        return self.images.get(name.replace("-", "_"))

    def lookup(self, name: str) -> list[str]:
        """What modprobe NAME loads: the module of that name, or else every module with
        a MODULE_ALIAS pattern (fnmatch, as kmod's modules.alias) or a device table entry
        that matches NAME as a modalias (kmod_module_new_from_lookup)."""
        image = self.get(name)
        if image is not None:
            return [image.name]
        match = MODALIAS.match(name)
        if match is None:
            return self.aliased(name)
        bus, vendor, device, platform = match.groups()
        dev = (DeviceId("platform", name=platform) if platform is not None
               else DeviceId(bus, int(vendor, 16), int(device, 16)))
        return self.modules_for_device(dev)

    def aliased(self, name: str) -> list[str]:
        """Modules whose MODULE_ALIAS patterns match `name`."""
        return [n for n, img in sorted(self.images.items())
                if any(fnmatch.fnmatchcase(name, pattern) for pattern in img.aliases)]

    def names(self) -> list[str]:
        return sorted(self.images)

    def hard_deps(self, name: str) -> list[str]:
        """Modules exporting the symbols `name` imports (modules.dep)."""
        image = self.images[name]
        deps = []
        for sym in image.imports:
            owner = self.exporters.get(sym)
            if owner and owner != name and owner not in deps:
                deps.append(owner)
        return deps

    def all_deps(self, name: str) -> list[str]:
        """Every module `name` needs, directly or not, each before its users (modules.dep);
        a cycle of imports is cut where it closes."""
        order: list[str] = []
        seen = {name}
        todo = [(name, iter(self.hard_deps(name)))]
        while todo:
            _, deps = todo[-1]
            dep = next(deps, None)
            if dep is None:
                done, _ = todo.pop()
                if todo:
                    order.append(done)
            elif dep not in seen and dep in self.images:
                seen.add(dep)
                todo.append((dep, iter(self.hard_deps(dep))))
        return order

    def probe_list(self, name: str) -> list[tuple[str, bool]]:
        """What modprobe loads for `name`, in order, each with whether its failure
        fails the modprobe: kmod's __kmod_module_get_probe_list. Each dependency comes
        with its softdeps around it (pre before, post after); a module is visited once,
        so a softdep cycle ends where it closes. Only `name` and its dependencies are
        required: a softdep's failure is ignored."""
        required = {name, *self.all_deps(name)}
        out: list[str] = []
        visited: set[str] = set()
        # an explicit stack instead of kmod's recursion: ("visit", n) is
        # __kmod_module_get_probe_list, ("fill", n) __kmod_module_fill_softdep,
        # ("add", n) its append between the pre and the post softdeps
        stack = [("visit", name)]
        while stack:
            what, n = stack.pop()
            if what == "add":
                out.append(n)
            elif what == "fill":
                image = self.images[n]
                steps = [("visit", d) for d in self._known(image.softdep_pre)]
                steps.append(("add", n))
                steps += [("visit", d) for d in self._known(image.softdep_post)]
                stack.extend(reversed(steps))
            elif n not in visited:
                visited.add(n)
                steps = [("fill", d) for d in self.all_deps(n)] + [("fill", n)]
                stack.extend(reversed(steps))
        return [(n, n in required) for n in out]

    def _known(self, names: list[str]) -> list[str]:
        """The installed modules of a softdep line, by their module names."""
        return [image.name for image in map(self.get, names) if image is not None]

    def load_order(self, name: str) -> list[str]:
        """The module and what it needs, dependencies first, as modprobe loads them."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(n: str) -> None:
            if n in order or n in visiting or n not in self.images:
                return
            visiting.add(n)
            image = self.images[n]
            for dep in image.softdep_pre + self.hard_deps(n):
                visit(dep)
            order.append(n)
            visiting.discard(n)

        visit(name)
        return order

    def modules_for_device(self, dev_id: DeviceId) -> list[str]:
        """Modules whose device table matches the device, or a MODULE_ALIAS its modalias."""
        aliased = set(self.aliased(dev_id.modalias))
        return [n for n, img in sorted(self.images.items())
                if n in aliased or any(e.matches(dev_id) for e in img.device_table)]
