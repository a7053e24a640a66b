"""`xdscp bootstrap` files: each bootstrap keeps its own credentials, and a full or
read-only disk is a one-line error that leaves no empty or half-written certificate."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml
from click.testing import CliRunner, Result
from cryptography import x509

from tests.cli.hygiene import REPO, fill, one_line_error, small_filesystem
from xdscp.cli import main


def bootstrap(output: Path, workload: str, ca_dir: Path) -> Result:
    return CliRunner().invoke(
        main,
        [
            "bootstrap",
            "--config", str(REPO / "examples" / "canary"),
            "--workload", workload,
            "--ca-dir", str(ca_dir),
            "-o", str(output),
        ],
    )  # fmt: skip


def spiffe_of(path: Path) -> str:
    cert = x509.load_pem_x509_certificates(path.read_bytes())[0]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return str(san.get_values_for_type(x509.UniformResourceIdentifier)[0])


def credential_files(config: dict[str, object]) -> set[str]:
    cluster = config["static_resources"]["clusters"][0]  # type: ignore[index]
    tls = cluster["transport_socket"]["typed_config"]["common_tls_context"]
    cert = tls["tls_certificates"][0]
    return {
        cert["certificate_chain"]["filename"],
        cert["private_key"]["filename"],
        tls["validation_context"]["trusted_ca"]["filename"],
    }


def test_two_bootstraps_in_one_directory_keep_their_own_credentials(tmp_path: Path) -> None:
    out = tmp_path / "sidecars"
    first = bootstrap(out / "a.yaml", "default/client", tmp_path / "ca")
    assert first.exit_code == 0, first.output
    a_cert = (out / "a.xds-client-cert.pem").read_bytes()
    a_key = (out / "a.xds-client-key.pem").read_bytes()
    second = bootstrap(out / "b.yaml", "default/order-v1", tmp_path / "ca")
    assert second.exit_code == 0, second.output
    # the second sidecar's credentials did not replace the first one's
    assert (out / "a.xds-client-cert.pem").read_bytes() == a_cert
    assert (out / "a.xds-client-key.pem").read_bytes() == a_key
    assert spiffe_of(out / "a.xds-client-cert.pem").endswith("/ns/default/sa/client")
    assert spiffe_of(out / "b.xds-client-cert.pem").endswith("/sa/order-service")
    a_files = credential_files(yaml.safe_load((out / "a.yaml").read_text()))
    b_files = credential_files(yaml.safe_load((out / "b.yaml").read_text()))
    assert a_files == {
        str(out / f"a.{n}")
        for n in ("xds-client-cert.pem", "xds-client-key.pem", "xds-root-cert.pem")
    }
    assert not a_files & b_files
    for name in a_files | b_files:
        assert stat.S_IMODE(os.stat(name).st_mode) == 0o600, name
    # no temp files are left behind by the atomic writes
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_bootstrap_on_a_full_disk_leaves_the_old_certificate_whole(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "disk", size_kb=64) as disk:
        done = bootstrap(disk / "a.yaml", "default/client", tmp_path / "ca")
        assert done.exit_code == 0, done.output
        before = {p.name: p.read_bytes() for p in disk.iterdir()}
        fill(disk)
        (disk / "b.yaml").touch()  # the disk is full, not refusing new names
        failed = bootstrap(disk / "a.yaml", "default/client", tmp_path / "ca")
        error = one_line_error(failed)
        assert "No space left on device" in error and "a.xds-client" in error, error
        after = {
            p.name: p.read_bytes() for p in disk.iterdir() if p.name not in ("filler", "b.yaml")
        }
        # every credential is the complete old one: nothing truncated, nothing half-new
        assert after == before
        # and a first bootstrap on a full disk leaves no empty certificate at all
        failed = bootstrap(disk / "c.yaml", "default/order-v1", tmp_path / "ca")
        one_line_error(failed)
        assert sorted(p.name for p in disk.iterdir() if p.name.startswith(("c.", ".c"))) == []


def test_bootstrap_into_a_read_only_directory_is_one_line(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "ro", read_only=True) as read_only:
        failed = bootstrap(read_only / "a.yaml", "default/client", tmp_path / "ca")
        error = one_line_error(failed)
        assert str(read_only) in error and ("Read-only" in error or "Permission" in error), error
        assert list(read_only.iterdir()) == []
