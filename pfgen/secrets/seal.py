"""Seal Secrets for the Bitnami Sealed Secrets controller, as ``kubeseal`` does.

Wire format of each ``spec.encryptedData`` value (sealed-secrets pkg/crypto, HybridEncrypt),
base64 (standard alphabet, padded):

    uint16 big-endian length of the RSA ciphertext || RSA ciphertext || AES-GCM ciphertext+tag

* a fresh random 32-byte session key per value;
* the session key encrypted with RSA-OAEP, SHA-256 for both the hash and MGF1, and the
  OAEP *label* set to the scope label: ``namespace/name`` (strict), ``namespace``
  (namespace-wide) or empty (cluster-wide);
* the value encrypted with AES-256-GCM under the session key, a 12-byte all-zero nonce
  (safe: each key is used once) and no additional data.

The scope is also recorded as annotations ``sealedsecrets.bitnami.com/namespace-wide`` or
``.../cluster-wide`` = "true" on the SealedSecret and on its template, as kubeseal does; the
controller derives the label from them when it unseals.

Output is random by construction (new session keys each run), so sealing is not
byte-reproducible; the ciphertext holds no readable secret and is safe to commit.
"""

from __future__ import annotations

import base64
import copy
import os
import struct
from pathlib import Path
from typing import Any, Optional

from pfgen.errors import Diagnostic, UserError

API_VERSION = "bitnami.com/v1alpha1"
ANNOTATION_PREFIX = "sealedsecrets.bitnami.com/"
NAMESPACE_WIDE = ANNOTATION_PREFIX + "namespace-wide"
CLUSTER_WIDE = ANNOTATION_PREFIX + "cluster-wide"
SCOPES = ("strict", "namespace-wide", "cluster-wide")
SESSION_KEY_BYTES = 32


def encryption_label(namespace: str, name: str, scope: str) -> bytes:
    if scope == "cluster-wide":
        return b""
    if scope == "namespace-wide":
        return namespace.encode()
    return f"{namespace}/{name}".encode()


def scope_annotations(scope: str) -> dict[str, str]:
    if scope == "namespace-wide":
        return {NAMESPACE_WIDE: "true"}
    if scope == "cluster-wide":
        return {CLUSTER_WIDE: "true"}
    return {}


def require_cryptography() -> None:
    """Sealing needs the ``cryptography`` package, an optional dependency (``pip install
    'pfgen[seal]'``): env and external modes and every other command run without it."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        from pfgen.errors import CommandError

        raise CommandError("sealing Secrets needs the Python package 'cryptography', which is not installed; "
                           "install it with `pip install 'pfgen[seal]'` (or `pip install cryptography`)") from None


def hybrid_encrypt(public_key: Any, plaintext: bytes, label: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    session_key = os.urandom(SESSION_KEY_BYTES)
    rsa_ciphertext = public_key.encrypt(
        session_key,
        padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=label),
    )
    aes_ciphertext = AESGCM(session_key).encrypt(b"\x00" * 12, plaintext, None)
    return struct.pack(">H", len(rsa_ciphertext)) + rsa_ciphertext + aes_ciphertext


def load_public_key(path: Path, display: Optional[str] = None) -> Any:
    """The RSA public key of a PEM certificate (``kubeseal --fetch-cert`` output) or PEM public key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    display = display or str(path)

    def fail(message: str) -> UserError:
        return UserError([Diagnostic(display, 1, 1, message)])

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise fail("no such file (fetch the controller's certificate with `kubeseal --fetch-cert > cert.pem`)") from None
    except OSError as exc:
        raise fail(f"cannot read certificate: {exc.strerror}") from None
    key: Any = None
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            key = x509.load_pem_x509_certificate(data).public_key()
        except ValueError:
            raise fail("not a valid PEM certificate") from None
    elif b"-----BEGIN PUBLIC KEY-----" in data:
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            raise fail("not a valid PEM public key") from None
    else:
        raise fail("expected a PEM certificate (-----BEGIN CERTIFICATE-----), as `kubeseal --fetch-cert` prints")
    if not isinstance(key, rsa.RSAPublicKey):
        raise fail("the Sealed Secrets controller uses RSA keys; this certificate's key is not RSA")
    return key


def seal(secret: dict, public_key: Any, scope: str = "strict") -> dict:
    """A SealedSecret for a Secret object (with ``data``, base64), as ``kubeseal --scope SCOPE`` makes it."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    meta = secret["metadata"]
    name, namespace = meta["name"], meta.get("namespace", "")
    if scope != "cluster-wide" and not namespace:
        raise UserError([Diagnostic("<secrets>", 1, 1, f"Secret '{name}': a {scope} SealedSecret needs a namespace; set namespace in pfgen.yaml or use --scope cluster-wide")])
    label = encryption_label(namespace, name, scope)
    template_meta = copy.deepcopy(meta)
    annotations = {k: v for k, v in (template_meta.get("annotations") or {}).items() if k not in (NAMESPACE_WIDE, CLUSTER_WIDE)}
    annotations.update(scope_annotations(scope))
    if annotations:
        template_meta["annotations"] = annotations
    else:
        template_meta.pop("annotations", None)
    encrypted = {
        key: base64.b64encode(hybrid_encrypt(public_key, base64.b64decode(value), label)).decode()
        for key, value in sorted((secret.get("data") or {}).items())
    }
    out_meta: dict = {"name": name}
    if namespace:
        out_meta["namespace"] = namespace
    if scope_annotations(scope):
        out_meta["annotations"] = scope_annotations(scope)
    template: dict = {"metadata": template_meta}
    if secret.get("type"):
        template["type"] = secret["type"]
    return {
        "apiVersion": API_VERSION,
        "kind": "SealedSecret",
        "metadata": out_meta,
        "spec": {"encryptedData": encrypted, "template": template},
    }
