"""Module signatures: keygen, sign_file, and what sig_enforce does with them."""

import errno
from pathlib import Path

import pytest

from kfuzz.kernel.signing import MARKER, keygen, load_public, sign_file
from kfuzz.prog import load_program, run_program

BODY = """
    @module_init
    def {0}_init():
        return 0


    @module_exit
    def {0}_exit():
        pass
"""


@pytest.fixture
def keys(tmp_path):
    """Two key pairs: `trusted` is on the kernel's keyring, `other` is not."""
    out = {}
    for who in ("trusted", "other"):
        private, public = keygen(tmp_path / who)
        out[who] = (private, load_public(public))
    return out


def test_keygen_writes_a_private_and_a_public_key(tmp_path):
    private, public = keygen(tmp_path / "keys")
    assert (private.name, public.name) == ("signing_key.pem", "signing_key.pub")
    assert private.stat().st_mode & 0o077 == 0, "the private key is the owner's only"
    assert len(load_public(public)) == 32


def test_signed_file_is_still_a_module_and_signing_again_replaces_the_signature(lab, keys):
    path = lab.module("m", BODY.format("m"))
    sign_file(keys["other"][0], path)
    sign_file(keys["trusted"][0], path)
    data = path.read_bytes()
    assert data.count(MARKER) == 1 and data.splitlines()[-1].startswith(MARKER)
    k = lab.boot(sig_enforce=True, trusted_keys=(keys["trusted"][1],))
    assert lab.insmod("m") == 0
    assert k.taint_string() == "G"


def tamper(path):
    """Changes the signed content after signing: the signature stays, no longer its own."""
    path.write_text(path.read_text().replace("return 0", "return 0  # changed"))


def test_enforced_signatures_refuse_unsigned_tampered_and_untrusted_modules(lab, keys):
    private = keys["trusted"][0]
    lab.module("unsigned", BODY.format("unsigned"))
    tampered = lab.module("tampered", BODY.format("tampered"))
    sign_file(private, tampered)
    tamper(tampered)
    untrusted = lab.module("untrusted", BODY.format("untrusted"))
    sign_file(keys["other"][0], untrusted)
    good = lab.module("good", BODY.format("good"))
    sign_file(private, good)
    k = lab.boot(sig_enforce=True, trusted_keys=(keys["trusted"][1],))
    results = {name: lab.insmod(name) for name in ("unsigned", "tampered", "untrusted", "good")}
    rejected = -errno.EKEYREJECTED
    assert results == {"unsigned": rejected, "tampered": rejected, "untrusted": rejected, "good": 0}
    # kernel/module/signing.c module_sig_check's pr_notice, then insmod's own line
    assert lines(lab, "Loading of", "insmod:") == [
        "Loading of unsigned module is rejected",
        "insmod: ERROR: could not insert module unsigned: Key was rejected by service",
        "insmod: ERROR: could not insert module tampered: Key was rejected by service",
        "Loading of module with unavailable key is rejected",
        "insmod: ERROR: could not insert module untrusted: Key was rejected by service",
    ]
    assert list(k.loader.modules) == ["good"]
    assert k.taint_string() == "G"


def lines(lab, *starts):
    """The dmesg lines, without timestamps, that start with any of `starts`."""
    found = [line.split("] ", 1)[1] for line in lab.kernel.log.dmesg()]
    return [line for line in found if line.startswith(starts)]


def test_without_enforcement_a_bad_signature_is_still_refused(lab, keys):
    """module_sig_check: only -ENODATA, -ENOPKG and -ENOKEY are forgiven without
    sig_enforce; a signature that does not verify (-EKEYREJECTED) or does not parse
    (-EBADMSG) is fatal "even if signatures aren't required"."""
    tampered = lab.module("tampered", BODY.format("tampered"))
    sign_file(keys["trusted"][0], tampered)
    tamper(tampered)
    garbled = lab.module("garbled", BODY.format("garbled"))
    garbled.write_bytes(garbled.read_bytes() + MARKER + b"key=0011 sig=***\n")
    short = lab.module("short", BODY.format("short"))
    short.write_bytes(short.read_bytes() + MARKER + b"key=0011 sig=AAAA\n")
    untrusted = lab.module("untrusted", BODY.format("untrusted"))
    sign_file(keys["other"][0], untrusted)
    k = lab.boot(trusted_keys=(keys["trusted"][1],))
    assert lab.insmod("tampered") == -errno.EKEYREJECTED
    assert lab.insmod("garbled") == -errno.EBADMSG
    assert lab.insmod("short") == -errno.EBADMSG
    assert lines(lab, "insmod:") == [
        "insmod: ERROR: could not insert module tampered: Key was rejected by service",
        "insmod: ERROR: could not insert module garbled: Bad message",
        "insmod: ERROR: could not insert module short: Bad message"]
    assert k.loader.modules == {} and k.taint_string() == "G"
    assert lab.insmod("untrusted") == 0, "a key the kernel lacks is -ENOKEY: forgiven"
    assert k.taint_string() == "E"
    assert ("untrusted: module verification failed: signature and/or required key missing"
            " - tainting kernel") in lab.dmesg()


def test_a_tampered_module_signed_by_an_unknown_key_cannot_be_checked(lab, keys):
    """Without the key the kernel cannot tell a tampered module: -ENOKEY, as Linux."""
    tampered = lab.module("tampered", BODY.format("tampered"))
    sign_file(keys["other"][0], tampered)
    tamper(tampered)
    k = lab.boot(trusted_keys=(keys["trusted"][1],))
    assert lab.insmod("tampered") == 0 and k.taint_string() == "E"


def test_without_enforcement_an_unsigned_module_loads_and_taints_E(lab, keys):
    lab.module("unsigned", BODY.format("unsigned"))
    signed = lab.module("signed", BODY.format("signed"))
    sign_file(keys["trusted"][0], signed)
    k = lab.boot(trusted_keys=(keys["trusted"][1],))
    assert lab.insmod("signed") == 0
    assert k.taint_string() == "G"
    assert lab.insmod("unsigned") == 0
    assert k.taint_string() == "E"
    assert ("unsigned: module verification failed: signature and/or required key missing"
            " - tainting kernel") in lab.dmesg()


def test_sig_enforce_with_an_empty_keyring_refuses_a_signed_module(lab, keys):
    signed = lab.module("signed", BODY.format("signed"))
    sign_file(keys["trusted"][0], signed)
    lab.boot(sig_enforce=True)
    assert lab.insmod("signed") == -errno.EKEYREJECTED


BADSIG = Path(__file__).resolve().parent.parent / "target_modules" / "buggy" / "badsig"


def test_the_bundled_tampered_module_is_refused_at_sig_enforce_0():
    """The planted `badsig`: changed after signing, with the signer's key on the
    keyring and sig_enforce=0. No finding kind fits a refused load, so this test, not
    the fuzzer, is what catches a kfuzz that lets it in."""
    program = load_program(BADSIG / "badsig.kfz")
    assert program.settings["sig_enforce"] == "0"
    outcome = run_program(program)
    assert [r.result for r in outcome.results] == ["-EKEYREJECTED"]
    assert outcome.finding is None and outcome.taints == "G"
    assert any(line.endswith("insmod: ERROR: could not insert module badsig: Key was rejected "
                             "by service") for line in outcome.dmesg), outcome.dmesg
    assert not any("duty cycle limit" in line for line in outcome.dmesg), "its code never ran"


def test_the_unsigned_taint_is_noticed_once(lab):
    """pr_notice_once in kernel/module/main.c: one line however many modules taint."""
    for name in ("one", "two"):
        lab.module(name, BODY.format(name))
    k = lab.boot()
    assert lab.insmod("one") == 0 and lab.insmod("two") == 0
    assert lab.dmesg().count("module verification failed") == 1
    assert k.taint_string() == "E"
