"""sdk.auth.certs: the local CA and the certificates it signs, checked with cryptography's RFC 5280
path validation (what a strict TLS peer does), at an injected time."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from sdk.auth import certs
from sdk.contracts.errors import Conflict, NotFound, ValidationError

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def clock() -> datetime:
    return T0


@pytest.fixture(scope="module")
def ca() -> certs.KeyPair:
    return certs.new_ca(days=365, clock=clock)


def policy(ca: certs.KeyPair, at: datetime = T0 + timedelta(days=1)) -> PolicyBuilder:
    return PolicyBuilder().store(Store([ca.cert])).time(at)


def sans(pair: certs.KeyPair) -> list[str]:
    return [str(n.value) for n in pair.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]


def usages(pair: certs.KeyPair) -> set[x509.ObjectIdentifier]:
    return set(pair.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_the_ca_is_a_p256_ca_for_leaves_only(ca: certs.KeyPair) -> None:
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey) and ca.key.curve.name == "secp256r1"
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    assert ca.cert.not_valid_after_utc == T0 + timedelta(days=365)
    assert ca.cert.not_valid_before_utc == T0 - certs.BACKDATE  # a peer a little behind still accepts it


def test_a_server_certificate_verifies_for_loopback_and_its_name(ca: certs.KeyPair) -> None:
    leaf = certs.issue(ca, "inference", sans=certs.sans_for("inference"), usages=("server",), clock=clock)
    assert leaf.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "inference"
    assert sans(leaf) == ["inference", "127.0.0.1", "localhost"]
    assert usages(leaf) == {ExtendedKeyUsageOID.SERVER_AUTH}
    for name in (DNSName("localhost"), DNSName("inference"), IPAddress(ipaddress.ip_address("127.0.0.1"))):
        chain = policy(ca).build_server_verifier(name).verify(leaf.cert, [])
        assert chain[-1] == ca.cert
    with pytest.raises(VerificationError):
        policy(ca).build_server_verifier(DNSName("platform")).verify(leaf.cert, [])
    with pytest.raises(VerificationError):  # server usage only: no client authentication with it
        policy(ca).build_client_verifier().verify(leaf.cert, [])


def test_a_client_certificate_verifies_as_a_client_only(ca: certs.KeyPair) -> None:
    leaf = certs.issue(ca, "dev@demo", usages=("client",), clock=clock)
    verified = policy(ca).build_client_verifier().verify(leaf.cert, [])
    assert verified.chain[-1] == ca.cert
    assert usages(leaf) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    with pytest.raises(VerificationError):
        policy(ca).build_server_verifier(DNSName("localhost")).verify(leaf.cert, [])


def test_a_leaf_is_bounded_by_its_days_and_by_the_ca(ca: certs.KeyPair) -> None:
    leaf = certs.issue(ca, "short", days=90, clock=clock)
    assert leaf.cert.not_valid_after_utc == T0 + timedelta(days=90)
    with pytest.raises(VerificationError):
        policy(ca, at=T0 + timedelta(days=91)).build_client_verifier().verify(leaf.cert, [])
    long = certs.issue(ca, "long", days=800, clock=clock)
    assert long.cert.not_valid_after_utc == ca.cert.not_valid_after_utc


def test_another_ca_does_not_vouch_for_a_leaf(ca: certs.KeyPair) -> None:
    other = certs.new_ca(clock=clock)
    forged = certs.issue(other, "sidecar", clock=clock)
    with pytest.raises(VerificationError):
        policy(ca).build_client_verifier().verify(forged.cert, [])


@pytest.mark.parametrize("name", ["", "../etc", ".hidden", "a/b", "ca", "x" * 65, "sp ace"])
def test_names_that_are_no_file_or_cn_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        certs.check_name(name)


def test_sans_are_parsed_as_ip_or_dns_and_all_problems_reported() -> None:
    names = certs.parse_sans(["10.0.0.1", "::1", "Inference.Predictor.svc", "*.svc.local"])
    assert [type(n) for n in names] == [x509.IPAddress, x509.IPAddress, x509.DNSName, x509.DNSName]
    assert names[2].value == "inference.predictor.svc"
    with pytest.raises(ValidationError) as caught:
        certs.parse_sans(["ok.example", "bad name", "-dash", "under_score"])
    assert len(caught.value.problems) == 3
    assert certs.sans_for("dev@demo") == ["127.0.0.1", "localhost"]  # not a host name: not a SAN
    assert certs.sans_for("api", ["api.svc"]) == ["api", "api.svc"]


def test_files_keys_are_private_and_nothing_is_overwritten(ca: certs.KeyPair, tmp_path: Path) -> None:
    cert_path, key_path = certs.write_pair(tmp_path / "tls", "ca", ca)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644
    with pytest.raises(Conflict):
        certs.write_pair(tmp_path / "tls", "ca", certs.new_ca())
    assert certs.read_pair(tmp_path / "tls").cert == ca.cert
    certs.write_pair(tmp_path / "tls", "ca", certs.new_ca(), overwrite=True)
    assert certs.read_pair(tmp_path / "tls").cert != ca.cert
    with pytest.raises(NotFound):
        certs.read_pair(tmp_path / "nowhere")


def test_ensure_creates_what_is_missing_once(tmp_path: Path) -> None:
    wanted: dict[str, tuple[certs.Usage, ...]] = {"platform": ("client", "server"), "dev@demo": ("client",)}
    assert certs.ensure(tmp_path, wanted, clock=clock) == ["ca", "platform", "dev@demo"]
    before = (tmp_path / "platform.pem").read_bytes()
    assert certs.ensure(tmp_path, {**wanted, "sidecar": ("client",)}, clock=clock) == ["sidecar"]
    assert (tmp_path / "platform.pem").read_bytes() == before
    ca = certs.read_pair(tmp_path)
    sidecar = x509.load_pem_x509_certificate((tmp_path / "sidecar.pem").read_bytes())
    policy(ca).build_client_verifier().verify(sidecar, [])
