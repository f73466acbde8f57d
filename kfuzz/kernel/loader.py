"""The module loader: insmod, rmmod, modprobe and what module bodies declare."""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .current import current
from .dyndbg import parse_queries
from .errno import (
    EBUSY,
    EEXIST,
    EINVAL,
    EKEYREJECTED,
    ENODATA,
    ENOENT,
    ENOEXEC,
    ENOKEY,
    ENOSPC,
    EPERM,
    errname,
)
from .findings import LoadAbort
from .module import Module, ModuleState
from .params import ParamError, parse_param

if TYPE_CHECKING:
    from .core import Kernel
    from .image import ModuleImage

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])


class Loader:
    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.modules: dict[str, Module] = {}
        self.symbols: dict[str, tuple[Callable[..., object], bool, Module]] = {}
        self.loading: tuple[Module, dict[str, str], set[str]] | None = None

    # -- insmod ---------------------------------------------------------------------
    def insmod(self, name: str, params: dict[str, str]) -> int:
        kernel = self.kernel
        log = kernel.log.write
        if kernel.uid != 0 or kernel.config.modules_disabled:
            log(f"insmod: ERROR: could not insert module {name}: Operation not permitted")
            return -EPERM
        image = kernel.index.get(name)
        if image is None:
            log(f"insmod: ERROR: could not load module {name}: No such file or directory")
            return -ENOENT
        name = image.name
        err = self._sig_check(image)
        if err:
            log(f"insmod: ERROR: could not insert module {name}: {os.strerror(-err)}")
            return err
        if name in self.modules:
            log(f"insmod: ERROR: could not insert module {name}: File exists")
            return -EEXIST
        if image.signature_error(kernel.config.trusted_keys):  # as load_module after module_sig_check
            if "E" not in kernel.taints:  # pr_notice_once
                log(f"{name}: module verification failed: signature and/or required key "
                    "missing - tainting kernel")
            kernel.taints.add("E")
        mod = Module(name, image, gpl_compatible=image.gpl_compatible)
        if not mod.gpl_compatible:
            log(f"{name}: module license '{image.license}' taints kernel.")
            kernel.taints.add("P")
        mod.namespace = {"__name__": name, "__file__": str(image.path),
                         "__builtins__": builtins, "THIS_MODULE": mod}
        self.modules[name] = mod
        err = self._run_body(mod, params)
        if err:
            self._forget(mod)
            return err
        for sym, (fn, gpl) in mod.exports.items():
            self.symbols[sym] = (fn, gpl, mod)
        ret = kernel.call(mod.init) if mod.init else 0
        if not isinstance(ret, int) or isinstance(ret, bool):
            ret = 0 if ret is None else -EINVAL
        if ret > 0:
            log(f"do_init_module: '{name}'->init suspiciously returned {ret}, "
                "it should follow 0/-E convention")
            ret = 0
        if ret < 0:
            log(f"{name}: init failed with error {errname(ret)}")
            mod.state = ModuleState.GOING
            self._unload(mod)
            return ret
        mod.state = ModuleState.LIVE
        return 0

    def _sig_check(self, image: ModuleImage) -> int:
        """module_sig_check (kernel/module/signing.c): a module unsigned or signed by a
        key the kernel lacks loads unless signatures are enforced; a signature that
        does not parse or does not verify never loads."""
        err = image.signature_error(self.kernel.config.trusted_keys)
        reasons = {-ENODATA: "unsigned module", -ENOKEY: "module with unavailable key"}
        if err not in reasons:
            return err
        if self.kernel.config.sig_enforce:
            self.kernel.log.write(f"Loading of {reasons[err]} is rejected")
            return -EKEYREJECTED
        return 0

    def _run_body(self, mod: Module, params: dict[str, str]) -> int:
        kernel = self.kernel
        self.loading = (mod, params, set())
        if "dyndbg" in params:  # parse_args hands it to ddebug_dyndbg_module_param_cb
            self.loading[2].add("dyndbg")
            mod.dyndbg, errors = parse_queries(params["dyndbg"])
            for line in errors:  # a bad query is logged; the module loads all the same
                kernel.log.write(line, 3)
        try:
            kernel.run_module_code(mod, lambda: exec(mod.image.code, mod.namespace))
        except LoadAbort as abort:
            kernel.log.write(abort.message)
            return abort.err
        finally:
            _, _, used = self.loading
            self.loading = None
        for key in params:
            if key not in used:
                kernel.log.write(f"{mod.name}: unknown parameter '{key}' ignored")
        return 0

    def _forget(self, mod: Module) -> None:
        for sym in mod.exports:
            if self.symbols.get(sym, (None, None, None))[2] is mod:
                del self.symbols[sym]
        for dep in mod.uses:
            if mod in dep.users:
                dep.users.remove(mod)
        mod.state = ModuleState.UNLOADED
        self.kernel.mm.kmemleak.drop_globals(mod)  # what only its globals held is leaked now
        if self.modules.get(mod.name) is mod:
            del self.modules[mod.name]
            self.kernel.locking.free_module(mod.name)  # lockdep_free_key_range

    # -- rmmod ----------------------------------------------------------------------
    def rmmod(self, name: str, force: bool = False) -> int:
        kernel = self.kernel
        log = kernel.log.write
        if kernel.uid != 0 or kernel.config.modules_disabled:
            log(f"rmmod: ERROR: could not remove module {name}: Operation not permitted")
            return -EPERM
        mod = self.modules.get(name.replace("-", "_"))
        if mod is None:
            log(f"rmmod: ERROR: Module {name} is not currently loaded")
            return -ENOENT
        if mod.state is not ModuleState.LIVE:
            return -EBUSY
        if mod.users:
            log(f"rmmod: ERROR: Module {name} is in use by: {' '.join(u.name for u in mod.users)}")
            return -EBUSY
        if (mod.permanent or mod.refcnt > 0) and not force:
            log(f"rmmod: ERROR: Module {name} is in use")
            return -EBUSY
        if force:
            log(f"{name}: forced unload, refcount {mod.refcnt}")
            kernel.taints.add("R")
        mod.state = ModuleState.GOING
        if mod.exit:
            kernel.call(mod.exit)
        self._unload(mod)
        return 0

    def _unload(self, mod: Module) -> None:
        """The module is gone even when what it left behind is a finding: its code
        that then runs (a dangling timer firing) is unloaded code."""
        try:
            self.kernel.check_gone(mod)
        finally:
            self._forget(mod)

    # -- modprobe -------------------------------------------------------------------
    def modprobe(self, name: str, params: dict[str, str]) -> int:
        """kmod's modprobe: every module that NAME names or matches as an alias is
        probed, and the result is the last one's (tools/modprobe.c insmod())."""
        kernel = self.kernel
        targets = kernel.index.lookup(name)
        if not targets:
            kernel.log.write(f"modprobe: FATAL: Module {name} not found.")
            return -ENOENT
        ret = 0
        for target in targets:
            ret = self._probe_insert(target, params)
        return ret

    def _probe_insert(self, name: str, params: dict[str, str]) -> int:
        """kmod_module_probe_insert_module (libkmod-module.c): a module already loaded is
        0 at once; then its probe list is loaded in order, each module already loaded
        skipped, and a failure counts only for the module and its hard dependencies:
        a softdep that fails is ignored."""
        kernel = self.kernel
        if name in self.modules:
            return 0
        ret = 0
        for dep, required in kernel.index.probe_list(name):
            if dep in self.modules:
                continue
            if kernel.uid != 0:  # finit_module needs CAP_SYS_MODULE
                ret = -EPERM
            else:
                ret = self.insmod(dep, params if dep == name else {})
            if ret < 0 and required:
                why = ("Unknown symbol in module, or unknown parameter (see dmesg)"
                       if ret == -ENOENT else os.strerror(-ret))
                kernel.log.write(f"modprobe: ERROR: could not insert '{name}': {why}")
                return ret
            ret = 0
        return ret

    def modprobe_remove(self, name: str) -> int:
        kernel = self.kernel
        image = kernel.index.get(name)
        if image is None or image.name not in self.modules:
            kernel.log.write(f"modprobe: FATAL: Module {name} is not currently loaded.")
            return -ENOENT
        return self._remove_tree(image.name, set())

    def _remove_tree(self, name: str, seen: set[str]) -> int:
        """kmod's order (tools/modprobe.c rmmod_do_module): post-softdeps, the module,
        pre-softdeps (each list reversed), then its dependencies. `seen` holds the
        modules this modprobe -r already took on, so a softdep cycle ends."""
        seen.add(name)
        index = self.kernel.index
        image = index.images[name]
        for dep in reversed(image.softdep_post):
            self._remove_unused(dep, seen)
        ret = self.rmmod(name)
        if ret < 0:
            return ret
        for dep in list(reversed(image.softdep_pre)) + index.hard_deps(name):
            self._remove_unused(dep, seen)
        return 0

    def _remove_unused(self, name: str, seen: set[str]) -> None:
        mod = self.modules.get(name)
        if name not in seen and mod and not mod.users and mod.refcnt == 0 and not mod.permanent:
            self._remove_tree(name, seen)

    # -- what module bodies call ------------------------------------------------------
    def loading_module(self, what: str) -> tuple[Module, dict[str, str], set[str]]:
        if self.loading is None:
            raise RuntimeError(f"{what} may only be called while the module loads")
        return self.loading

    def resolve(self, importer: Module, sym: str) -> Callable[..., object]:
        entry = self.symbols.get(sym)
        if entry is None or (entry[1] and not importer.gpl_compatible) or entry[2] is importer:
            raise LoadAbort(-ENOENT, f"{importer.name}: Unknown symbol {sym} (err -2)")
        fn, _, owner = entry
        if owner not in importer.uses:
            importer.uses.append(owner)
            owner.users.append(importer)
        return fn

    def export(self, mod: Module, fn: Callable[..., object], gpl: bool) -> None:
        sym = fn.__name__
        other = self.symbols.get(sym)
        if other is not None and other[2] is not mod:
            raise LoadAbort(-ENOEXEC, f"{mod.name}: exports duplicate symbol {sym} "
                                      f"(owned by {other[2].name})")
        mod.exports[sym] = (fn, gpl)

    def lsmod(self) -> list[str]:
        lines = ["Module                  Size  Used by"]
        for mod in self.modules.values():
            users = ",".join(u.name for u in mod.users)
            extra = " [permanent]" if mod.permanent else ""
            lines.append(f"{mod.name:<22}{mod.image.size:>6}  {mod.refcnt} {users}{extra}".rstrip())
        return lines

    def proc_modules(self) -> list[str]:
        taint = "".join(sorted({"P"} if any(not m.gpl_compatible for m in self.modules.values())
                               else set()))
        return [f"{m.name} {m.image.size} {m.refcnt} {','.join(u.name for u in m.users) or '-'}"
                f"{',' if m.users else ''} {m.state.value} 0x0{f' ({taint})' if taint else ''}"
                for m in self.modules.values()]


def module_param(name: str, type: Callable[[str], T], default: T | None = None, desc: str = "") -> T:
    """The value given at insmod, or the default: of the declared `type` (params.py's PARAM_TYPES)."""
    loader = current().loader
    mod, given, used = loader.loading_module("module_param")
    info = mod.image.params.get(name)
    if name not in given:
        value = default if default is not None or info is None else info.default
    else:
        used.add(name)
        text = given[name]
        try:  # parse_args (kernel/params.c) logs a value it cannot set so, -ERANGE too
            value = parse_param(info.type if info else getattr(type, "__name__", "str"), text)
        except ParamError as err:
            if err.err == -ENOSPC:
                kernel = current()
                kernel.log.write(f"{name}: string parameter too long", 3)  # param_set_charp's pr_err
                raise LoadAbort(err.err, f"{mod.name}: `{text}' too large for parameter `{name}'") from None
            raise LoadAbort(err.err, f"{mod.name}: `{text}' invalid for parameter `{name}'") from None
    mod.params[name] = value
    return cast(T, value)  # modinfo checked that the default and the conversion are of `type`


def import_symbol(name: str) -> Callable[..., Any]:  # module code uses what it returns as it likes
    loader = current().loader
    importer, _, _ = loader.loading_module("import_symbol")
    return loader.resolve(importer, name)


def _exporter(gpl: bool) -> Callable[[F], F]:
    def export(fn: F) -> F:
        loader = current().loader
        mod, _, _ = loader.loading_module("EXPORT_SYMBOL")
        loader.export(mod, fn, gpl)
        return fn
    return export


EXPORT_SYMBOL = _exporter(False)
EXPORT_SYMBOL_GPL = _exporter(True)


def module_init(fn: Callable[[], int]) -> Callable[[], int]:
    mod, _, _ = current().loader.loading_module("module_init")
    mod.init = fn
    return fn


def module_exit(fn: Callable[[], None]) -> Callable[[], None]:
    mod, _, _ = current().loader.loading_module("module_exit")
    mod.exit = fn
    return fn
