"""What can be checked of the kind path without a Docker engine: the script parses (and
passes shellcheck when installed), every file it and the Dockerfile name exists, the
cluster config asks for a Kubernetes with native sidecars, and `make kind-up` runs it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "kind-up.sh"


def test_script_parses() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True, timeout=30)


def test_script_passes_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed")
    result = subprocess.run(
        ["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout


def test_every_file_the_script_applies_exists() -> None:
    text = SCRIPT.read_text()
    paths = set(re.findall(r"(?:deploy|examples)/[\w./-]+\.yaml", text)) | {"kind-config.yaml"}
    assert len(paths) > 8
    missing = sorted(p for p in paths if not (ROOT / p).is_file())
    assert not missing, missing


def test_kind_config_has_native_sidecars_and_room_for_two_replicas() -> None:
    config = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    workers = [n for n in config["nodes"] if n["role"] == "worker"]
    assert len(workers) >= 2
    for node in config["nodes"]:
        major, minor = re.match(r".*:v(\d+)\.(\d+)", node["image"]).groups()  # type: ignore[union-attr]
        assert (int(major), int(minor)) >= (1, 29)


def test_dockerfile_copies_what_the_package_needs() -> None:
    text = (ROOT / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (\S+)", text, flags=re.M)
    for source in copied:
        assert (ROOT / source).exists(), source
    for package in ("xdscp", "translators", "ca"):
        assert package in copied
    assert "iptables" in text  # the init step installs capture with it


def test_make_kind_up_runs_the_script() -> None:
    result = subprocess.run(
        ["make", "-n", "kind-up"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert "scripts/kind-up.sh" in result.stdout
