"""A throw-away PKI for the mutual-TLS tests: the trusted CA with its services and principals,
and a second, untrusted CA that issues a certificate with a trusted name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from predictor import build_proto
from sdk.auth import certs
from sdk.auth.tls import TLSFiles


def pytest_configure(config: pytest.Config) -> None:
    build_proto.build()  # idempotent; the gRPC tests import predictor.generated


@dataclass(frozen=True)
class Pki:
    trusted: Path  # ca.pem + one pair per name below
    other: Path  # another CA: its "sidecar" has the right name and the wrong issuer

    def files(self, name: str, *, other_ca: bool = False) -> TLSFiles:
        return TLSFiles.in_dir(self.other if other_ca else self.trusted, name)

    def ca_only(self) -> TLSFiles:
        """Trusts the CA, presents nothing: a client without a certificate."""
        return TLSFiles(ca=self.trusted / "ca.pem")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    trusted, other = tmp_path_factory.mktemp("pki"), tmp_path_factory.mktemp("other-pki")
    certs.ensure(
        trusted,
        {
            "inference": ("server",),
            "platform": ("client", "server"),
            "sidecar": ("client",),
            "intruder": ("client",),
            "dev@demo": ("client",),
        },
    )
    certs.ensure(other, {"sidecar": ("client",), "dev@demo": ("client",)})
    return Pki(trusted=trusted, other=other)
