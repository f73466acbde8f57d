"""Module signatures: keygen, sign_file, and what sig_enforce does with them."""

import errno

import pytest

from kfuzz.kernel.signing import MARKER, keygen, load_public, sign_file

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


def test_enforced_signatures_refuse_unsigned_tampered_and_untrusted_modules(lab, keys):
    private = keys["trusted"][0]
    lab.module("unsigned", BODY.format("unsigned"))
    tampered = lab.module("tampered", BODY.format("tampered"))
    sign_file(private, tampered)
    tampered.write_text(tampered.read_text().replace("return 0", "return 0  # changed"))
    untrusted = lab.module("untrusted", BODY.format("untrusted"))
    sign_file(keys["other"][0], untrusted)
    good = lab.module("good", BODY.format("good"))
    sign_file(private, good)
    k = lab.boot(sig_enforce=True, trusted_keys=(keys["trusted"][1],))
    results = {name: lab.insmod(name) for name in ("unsigned", "tampered", "untrusted", "good")}
    rejected = -errno.EKEYREJECTED
    assert results == {"unsigned": rejected, "tampered": rejected, "untrusted": rejected, "good": 0}
    log = lab.dmesg()
    for name, state in (("unsigned", "unsigned"), ("tampered", "bad-signature"),
                        ("untrusted", "untrusted-key")):
        assert f"{name}: Loading of module with {state} signature is rejected" in log
    assert list(k.loader.modules) == ["good"]
    assert k.taint_string() == "G"


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
