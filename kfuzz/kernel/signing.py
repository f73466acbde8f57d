"""Module signatures: Ed25519 over the file, appended as a last comment line.

Like a .ko's appended signature, the signed file stays a valid module file:
`# ~Module signature appended~ key=ID sig=BASE64` ends it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errno import EBADMSG, EKEYREJECTED, ENODATA, ENOKEY

MARKER = b"# ~Module signature appended~ "
SIG_BYTES = 64  # an Ed25519 signature
# what `kfuzz modinfo` says of each result of verify()
STATES = {0: "valid", -ENODATA: "unsigned", -ENOKEY: "untrusted-key",
          -EKEYREJECTED: "bad-signature", -EBADMSG: "malformed"}


@dataclass(frozen=True)
class Signature:
    key_id: str
    sig: bytes
    malformed: bool = False  # the marker is there but its fields do not parse


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def split_signature(data: bytes) -> tuple[bytes, Signature | None]:
    """The signed content and the signature, or the whole file and None."""
    body = data.rstrip(b"\n")
    cut = body.rfind(b"\n") + 1
    last = body[cut:]
    if not last.startswith(MARKER):
        return data, None
    fields = dict(f.split(b"=", 1) for f in last[len(MARKER):].split() if b"=" in f)
    try:
        sig = Signature(fields[b"key"].decode(), base64.b64decode(fields[b"sig"], validate=True))
    except (KeyError, ValueError):
        return data[:cut], Signature("malformed", b"", malformed=True)
    return data[:cut], sig


def verify(content: bytes, sig: Signature | None, trusted: tuple[bytes, ...]) -> int:
    """0 or what mod_verify_sig gives (kernel/module/signing.c): -ENODATA unsigned,
    -EBADMSG a signature that does not parse (checked before any key is looked up),
    -ENOKEY no trusted key of its id, -EKEYREJECTED one that does not verify."""
    if sig is None:
        return -ENODATA
    if sig.malformed or len(sig.sig) != SIG_BYTES:
        return -EBADMSG
    for raw in trusted:
        if key_id(raw) != sig.key_id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(sig.sig, content)
            return 0
        except InvalidSignature:
            return -EKEYREJECTED
    return -ENOKEY


def keygen(directory: Path) -> tuple[Path, Path]:
    """Writes signing_key.pem (private) and signing_key.pub (trusted keyring entry)."""
    directory.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    priv_path, pub_path = directory / "signing_key.pem", directory / "signing_key.pub"
    priv_path.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    priv_path.chmod(0o600)
    pub_path.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv_path, pub_path


def load_public(path: Path) -> bytes:
    """The raw 32-byte key of a PEM public key file."""
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign_file(key_path: Path, module_path: Path) -> str:
    """Signs a module file in place (replacing an old signature); returns the key id."""
    private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{key_path}: not an Ed25519 private key")
    content, _ = split_signature(module_path.read_bytes())
    if not content.endswith(b"\n"):
        content += b"\n"
    raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
    kid = key_id(raw)
    sig = base64.b64encode(private.sign(content)).decode()
    module_path.write_bytes(content + MARKER + f"key={kid} sig={sig}\n".encode())
    return kid
