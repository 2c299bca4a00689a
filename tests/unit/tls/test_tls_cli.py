"""`trainyard certs init|issue` through typer's CliRunner: files, modes, and a chain that verifies."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import DNSName
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store
from typer.testing import CliRunner, Result

from sdk.cli import make_app
from sdk.cli.session import CliDeps


def run(*args: str) -> Result:
    runner = CliRunner(env={"TRAINYARD_URL": None, "TRAINYARD_TOKEN": None, "COLUMNS": "200"})
    return runner.invoke(make_app(CliDeps(launcher=lambda argv: 99)), list(args))


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def eku(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    out = tmp_path / "tls"
    result = run("certs", "init", "--out", str(out), "--days", "30")
    assert result.exit_code == 0, result.output
    assert "CN=trainyard local CA" in result.output
    return out


def test_init_writes_the_ca_with_a_private_key(tls_dir: Path) -> None:
    assert sorted(p.name for p in tls_dir.iterdir()) == ["ca.key", "ca.pem"]
    assert stat.S_IMODE((tls_dir / "ca.key").stat().st_mode) == 0o600
    ca = load(tls_dir / "ca.pem")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert 30 <= lifetime.days <= 31


def test_init_refuses_to_replace_a_ca_unless_forced(tls_dir: Path) -> None:
    before = (tls_dir / "ca.pem").read_bytes()
    refused = run("certs", "init", "--out", str(tls_dir))
    assert refused.exit_code == 1 and "--force" in refused.output
    assert (tls_dir / "ca.pem").read_bytes() == before
    assert run("certs", "init", "--out", str(tls_dir), "--force").exit_code == 0
    assert (tls_dir / "ca.pem").read_bytes() != before


def test_issue_signs_a_certificate_whose_chain_verifies(tls_dir: Path) -> None:
    result = run("certs", "issue", "--out", str(tls_dir), "platform")
    assert result.exit_code == 0, result.output
    assert "CN=platform" in result.output
    assert stat.S_IMODE((tls_dir / "platform.key").stat().st_mode) == 0o600
    leaf, ca = load(tls_dir / "platform.pem"), load(tls_dir / "ca.pem")
    assert eku(leaf) == {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH}  # the default: both
    policy = PolicyBuilder().store(Store([ca]))
    assert policy.build_server_verifier(DNSName("localhost")).verify(leaf, [])[-1] == ca
    assert policy.build_client_verifier().verify(leaf, []).chain[-1] == ca
    assert leaf.not_valid_after_utc <= ca.not_valid_after_utc  # capped by the 30-day CA


def test_issue_client_only_with_extra_names(tls_dir: Path) -> None:
    client = run("certs", "issue", "--out", str(tls_dir), "dev@demo", "--client")
    server = run(
        "certs",
        "issue",
        "--out",
        str(tls_dir),
        "inference",
        "--server",
        "--san",
        "inference.predictor.svc",
        "--san",
        "10.0.0.7",
    )
    assert client.exit_code == 0 and server.exit_code == 0, client.output + server.output
    assert eku(load(tls_dir / "dev@demo.pem")) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    inference = load(tls_dir / "inference.pem")
    assert eku(inference) == {ExtendedKeyUsageOID.SERVER_AUTH}
    names = inference.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n.value) for n in names] == ["inference", "inference.predictor.svc", "10.0.0.7"]


def test_issue_errors_are_one_line_each(tls_dir: Path, tmp_path: Path) -> None:
    no_ca = run("certs", "issue", "--out", str(tmp_path / "empty"), "platform")
    assert no_ca.exit_code == 1 and "ca.pem" in no_ca.output and "not found" in no_ca.output
    bad_name = run("certs", "issue", "--out", str(tls_dir), "../escape")
    assert bad_name.exit_code == 1 and "name" in bad_name.output
    bad_san = run("certs", "issue", "--out", str(tls_dir), "svc", "--san", "not a host")
    assert bad_san.exit_code == 1 and "not a host" in bad_san.output
    assert sorted(p.name for p in tls_dir.iterdir()) == ["ca.key", "ca.pem"]  # nothing half-written


def test_issue_with_the_ca_elsewhere(tls_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "issued"
    result = run("certs", "issue", "--out", str(out), "--ca-dir", str(tls_dir), "sidecar", "--client")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["sidecar.key", "sidecar.pem"]
    assert load(out / "sidecar.pem").issuer == load(tls_dir / "ca.pem").subject
