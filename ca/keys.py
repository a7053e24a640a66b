"""Private keys: which kinds the CA makes and accepts, and how they are encoded.

EC P-256 is the default everywhere: it is what Istio uses for workloads, it is
fast to generate (one key per workload per rotation adds up), and every Envoy
build supports it. RSA is offered for operators whose PKI policy requires it.
"""

from __future__ import annotations

import enum
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = [
    "KeyType",
    "PrivateKey",
    "generate_private_key",
    "key_matches_certificate",
    "key_type_of",
    "load_private_key_pem",
    "private_key_pem",
    "signature_hash",
]

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
"""The key types the CA can sign with and issue."""


class KeyType(enum.Enum):
    """Key algorithm for a newly generated key."""

    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"


_RSA_BITS = {KeyType.RSA_2048: 2048, KeyType.RSA_3072: 3072, KeyType.RSA_4096: 4096}
_EC_CURVES: dict[KeyType, ec.EllipticCurve] = {
    KeyType.EC_P256: ec.SECP256R1(),
    KeyType.EC_P384: ec.SECP384R1(),
}
_MIN_RSA_BITS = 2048


def generate_private_key(key_type: KeyType = KeyType.EC_P256) -> PrivateKey:
    """A fresh private key of `key_type`."""
    if key_type in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[key_type])
    return ec.generate_private_key(_EC_CURVES[key_type])


def key_type_of(key: PrivateKey) -> KeyType | None:
    """The `KeyType` of an existing key, or None if it is not one we would generate."""
    if isinstance(key, rsa.RSAPrivateKey):
        return {2048: KeyType.RSA_2048, 3072: KeyType.RSA_3072, 4096: KeyType.RSA_4096}.get(
            key.key_size
        )
    for key_type, curve in _EC_CURVES.items():
        if key.curve.name == curve.name:
            return key_type
    return None


def private_key_pem(key: PrivateKey) -> str:
    """Unencrypted PKCS#8 PEM, the form Envoy and Istio's `cacerts` both read."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def load_private_key_pem(data: bytes) -> PrivateKey:
    """Parse a PEM private key, accepting only key types usable for signing here.

    Raises ValueError with a one-line reason (the caller adds the file name).
    """
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise ValueError("encrypted private keys are not supported") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a valid PEM private key ({_first_line(exc)})") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _MIN_RSA_BITS:
            raise ValueError(f"RSA key of {key.key_size} bits is too small (min {_MIN_RSA_BITS})")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key_type_of(key) is None:
            raise ValueError(f"unsupported elliptic curve {key.curve.name}")
        return key
    raise ValueError(f"unsupported private key type {type(key).__name__}")


def key_matches_certificate(key: PrivateKey, cert: x509.Certificate) -> bool:
    """Whether `key` is the private half of `cert`'s public key."""
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return key.public_key().public_bytes(der, fmt) == cert.public_key().public_bytes(der, fmt)


def signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    """The digest to sign with: SHA-384 for P-384 (matching strength), else SHA-256."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
