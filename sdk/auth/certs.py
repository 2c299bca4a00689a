"""A small local certificate authority for running trainyard with mutual TLS (demo, tests).

`trainyard certs init` makes the CA and `trainyard certs issue NAME` signs one certificate
per service or principal; these are the pure functions behind them. ECDSA P-256 keys
(small, fast handshakes, accepted by OpenSSL, BoringSSL/gRPC and every browser).

Example::

    ca = new_ca("trainyard local CA", days=365)
    leaf = issue(ca, "inference", sans=["127.0.0.1", "localhost"], usages=("server",), days=90)
    write_pair(out, "inference", leaf)  # out/inference.pem, out/inference.key (0600)

A production cluster gets its certificates from its own PKI (cert-manager, SPIFFE); the
services only read PEM files named by configuration, so nothing here is needed there.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sdk.contracts.errors import Conflict, NotFound, Problem, ValidationError

Usage = Literal["client", "server"]
Clock = Callable[[], datetime]

CA_NAME = "ca"  # DIR/ca.pem and DIR/ca.key
DEFAULT_SANS = ("127.0.0.1", "localhost")  # local mode: every service listens on loopback
BACKDATE = timedelta(minutes=5)  # a peer whose clock is a little behind still accepts a fresh cert
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # also a file name: no slash, no leading dot
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")
_USAGE_OIDS = {"client": ExtendedKeyUsageOID.CLIENT_AUTH, "server": ExtendedKeyUsageOID.SERVER_AUTH}


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _now(clock: Clock | None) -> datetime:
    return clock() if clock is not None else datetime.now(UTC)


def check_name(name: str) -> str:
    """A principal name usable as a CN and as a file name; raises ValidationError otherwise."""
    if not _NAME.fullmatch(name) or name == CA_NAME:
        raise ValidationError(
            [
                Problem(
                    "name",
                    f"{name!r}: use 1-64 letters, digits, '.', '_', '@' or '-', "
                    f"not starting with a symbol, and not {CA_NAME!r}",
                )
            ]
        )
    return name


def parse_sans(values: Iterable[str]) -> list[x509.GeneralName]:
    """'127.0.0.1' or '::1' become IP SANs, host names DNS SANs; anything else is refused."""
    names: list[x509.GeneralName] = []
    problems: list[Problem] = []
    for value in values:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            if _DNS.fullmatch(value) or (value.startswith("*.") and _DNS.fullmatch(value[2:])):
                names.append(x509.DNSName(value.lower()))
            else:
                problems.append(Problem("san", f"{value!r} is neither an IP address nor a DNS name"))
    if problems:
        raise ValidationError(problems)
    return names


def sans_for(name: str, given: Sequence[str] | None = None) -> list[str]:
    """`given` (default: loopback), plus NAME when it is a host name, so a gRPC client may
    check the server as e.g. 'inference' (ssl target name) while dialing an address."""
    sans = list(given or DEFAULT_SANS)
    if name not in sans and _DNS.fullmatch(name):
        sans.insert(0, name)
    return sans


def new_ca(common_name: str = "trainyard local CA", *, days: int = 365, clock: Clock | None = None) -> KeyPair:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "trainyard"),
        ]
    )
    now = _now(clock)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return KeyPair(cert=cert, key=key)


def issue(
    ca: KeyPair,
    name: str,
    *,
    sans: Sequence[str] = DEFAULT_SANS,
    usages: Sequence[Usage] = ("client", "server"),
    days: int = 90,
    clock: Clock | None = None,
) -> KeyPair:
    """A leaf certificate for `name` (its CN, the identity servers read), signed by `ca`."""
    check_name(name)
    if not usages:
        raise ValidationError([Problem("usages", "a certificate needs client and/or server usage")])
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now(clock)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(min(now + timedelta(days=days), ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([_USAGE_OIDS[u] for u in dict.fromkeys(usages)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )  # fmt: skip
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(parse_sans(sans)), critical=False)
    return KeyPair(cert=builder.sign(ca.key, hashes.SHA256()), key=key)


# -- files -------------------------------------------------------------------------------


def pair_paths(directory: Path, name: str) -> tuple[Path, Path]:
    """(certificate, key) paths of `name` in `directory`: NAME.pem and NAME.key."""
    return directory / f"{name}.pem", directory / f"{name}.key"


def write_pair(directory: Path, name: str, pair: KeyPair, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write NAME.pem (0644) and NAME.key (0600, created so: never readable by others, even briefly)."""
    cert_path, key_path = pair_paths(directory, name)
    existing = [str(p) for p in (cert_path, key_path) if p.exists()]
    if existing and not overwrite:
        raise Conflict(f"{', '.join(existing)} already exist(s); pass --force to replace")
    directory.mkdir(parents=True, exist_ok=True)
    _write(key_path, pair.key_pem(), mode=0o600)
    _write(cert_path, pair.cert_pem(), mode=0o644)
    return cert_path, key_path


def _write(path: Path, data: bytes, *, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)  # O_CREAT's mode is filtered by the umask; the key must end up exactly 0600
    os.replace(tmp, path)


def read_pair(directory: Path, name: str = CA_NAME) -> KeyPair:
    """Load NAME.pem and NAME.key (the CA by default) from `directory`."""
    cert_path, key_path = pair_paths(directory, name)
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise NotFound("file", str(exc.filename)) from exc
    except ValueError as exc:
        raise ValidationError([Problem(str(directory), f"unreadable {name} certificate or key: {exc}")]) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValidationError([Problem(str(key_path), "expected an EC private key")])
    return KeyPair(cert=cert, key=key)


def ensure(
    directory: Path, names: Mapping[str, Sequence[Usage]], *, days: int = 90, clock: Clock | None = None
) -> list[str]:
    """Create the CA and each named certificate that is not in `directory` yet; return what
    was created. What exists is kept as is (a restart reuses it; delete a file to renew it).

    Example::

        ensure(Path(".trainyard/tls"), {"platform": ("client", "server"), "dev@demo": ("client",)})
    """
    created: list[str] = []
    cert_path, _ = pair_paths(directory, CA_NAME)
    if cert_path.exists():
        ca = read_pair(directory)
    else:
        ca = new_ca(days=max(days, 365), clock=clock)
        write_pair(directory, CA_NAME, ca)
        created.append(CA_NAME)
    for name, usages in names.items():
        if not pair_paths(directory, name)[0].exists():
            write_pair(directory, name, issue(ca, name, sans=sans_for(name), usages=usages, days=days, clock=clock))
            created.append(name)
    return created
