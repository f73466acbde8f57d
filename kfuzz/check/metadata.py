"""Licence, signature and taint: a checklist line each.

A licence that is not GPL-compatible taints the kernel (P) and is a warning, not a
failure. A signature must verify against --keyring when one is given; without one,
"unsigned" is information unless --require-signature is given. The taint line is
what loading the module does to the kernel's taint flags.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..kernel import ModuleIndex
from .probe import Prober
from .result import CheckResult, Verdict

# taint letters loading may set, as Linux's taint_flags table names them
TAINTS = {"P": "proprietary module", "E": "unsigned module", "O": "out-of-tree module",
          "W": "warning", "D": "oops", "R": "forced removal", "F": "forced load"}


def licence(index: ModuleIndex, target: str) -> CheckResult:
    image = index.images[target]
    if image.gpl_compatible:
        return CheckResult("licence", Verdict.PASS, f'"{image.license}" (GPL-compatible)')
    said = f'"{image.license}"' if image.license else "no MODULE_LICENSE"
    return CheckResult("licence", Verdict.WARN, f"{said}: not GPL-compatible, taints the kernel (P)")


def signature(index: ModuleIndex, target: str, keys: tuple[bytes, ...], keyring: Path | None,
              require: bool) -> CheckResult:
    image = index.images[target]
    sig = image.signature
    if keys:
        state = image.signature_state(keys)
        if state == "valid":
            kid = sig.key_id if sig else "?"
            return CheckResult("signature", Verdict.PASS, f"verified with {keyring} (key {kid})")
        return CheckResult("signature", Verdict.FAIL, f"{state} against {keyring}")
    if sig is None:
        verdict = Verdict.FAIL if require else Verdict.INFO
        return CheckResult("signature", verdict, "unsigned" + (" (--require-signature)" if require else ""))
    return CheckResult("signature", Verdict.INFO,
                       f"signed with key {sig.key_id} (give --keyring to verify it)")


def taint(prober: Prober, target: str, keyring: Path | None) -> CheckResult:
    """Loads the module once (with the keyring, when one is given) and reads the taint."""
    start = time.monotonic()
    settings = dict(prober.settings)
    if keyring is not None:
        settings["keyring"] = str(keyring.resolve())
    outcome = prober.run([f"modprobe {target}"], settings=settings)
    took = time.monotonic() - start
    flags = "".join(c for c in outcome.taints if c != "G")
    if not flags:
        return CheckResult("taint", Verdict.PASS, "not tainted (G)", took)
    said = ", ".join(f"{c}: {TAINTS.get(c, 'taint')}" for c in flags)
    if set(flags) <= {"P", "E", "O"}:
        return CheckResult("taint", Verdict.WARN if "P" in flags else Verdict.INFO, said, took)
    return CheckResult("taint", Verdict.FAIL, said, took)
