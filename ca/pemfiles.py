"""Reading and writing CA material on disk, with errors that name the file.

Writes are atomic (temp file + fsync, then hard link or rename): a crash, a full
disk or a read-only directory can never leave a truncated or empty key or
certificate, only the old file or none, and a `CAFileError` naming the file.
CA material is no-clobber (`write_new_file`: two control planes starting at once
never overwrite an existing root); issued credentials are replaced
(`replace_file`). Key files are created 0600 from the start (never chmod-ed after
being written), and the directory is made 0700.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca.errors import CAFileError
from ca.keys import PrivateKey, load_private_key_pem

__all__ = [
    "certificates_pem",
    "ensure_private_directory",
    "read_certificates",
    "read_private_key",
    "replace_file",
    "write_new_file",
]

KEY_FILE_MODE = 0o600
CERT_FILE_MODE = 0o644
DIRECTORY_MODE = 0o700


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CAFileError("file is missing", path=path) from None
    except IsADirectoryError:
        raise CAFileError("is a directory, expected a PEM file", path=path) from None
    except OSError as exc:
        raise CAFileError(f"cannot read: {exc.strerror or exc}", path=path) from exc
    if not data.strip():
        raise CAFileError("file is empty", path=path)
    return data


def read_certificates(path: Path, *, exactly_one: bool = False) -> list[x509.Certificate]:
    """All certificates in a PEM file (at least one), in file order."""
    data = _read_bytes(path)
    if b"-----BEGIN CERTIFICATE-----" not in data:
        found = "a private key" if b"PRIVATE KEY-----" in data else "no PEM certificate"
        raise CAFileError(f"expected a PEM certificate, found {found}", path=path)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CAFileError(f"corrupt PEM certificate ({exc})", path=path) from exc
    if exactly_one and len(certs) != 1:
        raise CAFileError(f"expected exactly one certificate, found {len(certs)}", path=path)
    return certs


def read_private_key(path: Path) -> PrivateKey:
    """The single private key in a PEM file."""
    data = _read_bytes(path)
    if b"PRIVATE KEY-----" not in data:
        found = "a certificate" if b"CERTIFICATE-----" in data else "no PEM private key"
        raise CAFileError(f"expected a PEM private key, found {found}", path=path)
    try:
        return load_private_key_pem(data)
    except ValueError as exc:
        raise CAFileError(str(exc), path=path) from exc


def certificates_pem(certs: list[x509.Certificate] | tuple[x509.Certificate, ...]) -> str:
    """Concatenated PEM of `certs`, in order."""
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)


def ensure_private_directory(directory: Path) -> None:
    """Create `directory` (and parents) if needed and restrict it to its owner."""
    try:
        directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        os.chmod(directory, DIRECTORY_MODE)
    except OSError as exc:
        raise CAFileError(
            f"cannot prepare CA directory: {exc.strerror or exc}", path=directory
        ) from exc


def write_new_file(path: Path, data: str, *, mode: int) -> None:
    """Atomically create `path` with `data` and `mode`; refuse if it already exists."""
    _write_atomically(path, data.encode("ascii"), mode, replace=False)


def replace_file(path: Path, data: str | bytes, *, mode: int) -> None:
    """Atomically create or replace `path` with `data` and `mode`."""
    _write_atomically(path, data.encode() if isinstance(data, str) else data, mode, replace=True)


def _write_atomically(path: Path, data: bytes, mode: int, *, replace: bool) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)  # os.open's mode is filtered by the umask
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        raise CAFileError("already exists; refusing to overwrite CA material", path=path) from None
    except OSError as exc:
        raise CAFileError(f"cannot write: {exc.strerror or exc}", path=path) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    _fsync_directory(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write less than asked (a nearly full disk); write the rest or fail."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
