"""Local mode with mutual TLS (`trainyard up --tls DIR`): who holds which certificate.

The platform API then listens on https and refuses, at the handshake, every client without
a certificate from DIR/ca.pem: users (dev@TENANT), the sidecar, unsandboxed trainers
(trainer), and the platform's own loopback calls (dispatcher, broker publisher, egress
proxy: platform). The sidecar and the inference server speak mutual TLS too, and the
inference server takes predictions only from CN=sidecar. Missing files are created with
`sdk.auth.certs` (what `trainyard certs` does); existing ones are used as they are.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdk.auth import certs
from sdk.auth.tls import TLSFiles, client_context, uvicorn_ssl_options

PLATFORM, INFERENCE, SIDECAR, TRAINER = "platform", "inference", "sidecar", "trainer"


def principals(tenant: str) -> dict[str, Sequence[certs.Usage]]:
    return {
        PLATFORM: ("client", "server"),
        INFERENCE: ("server",),
        SIDECAR: ("client",),
        TRAINER: ("client",),
        f"dev@{tenant}": ("client",),
    }


@dataclass(frozen=True)
class LocalTLS:
    directory: Path
    tenant: str

    @classmethod
    def prepare(cls, directory: Path, *, tenant: str) -> LocalTLS:
        created = certs.ensure(directory, principals(tenant))
        if created:
            print(f"mutual TLS: created {', '.join(created)} in {directory}", flush=True)
        return cls(directory=directory.resolve(), tenant=tenant)

    def files(self, name: str) -> TLSFiles:
        return TLSFiles.in_dir(self.directory, name)

    def platform_client(self) -> ssl.SSLContext:
        """What the platform's own HTTP clients present when calling the platform."""
        return client_context(self.files(PLATFORM))

    def uvicorn_options(self) -> dict[str, Any]:
        return uvicorn_ssl_options(self.files(PLATFORM))

    def user_env(self) -> dict[str, str]:
        """TRAINYARD_TLS_* for the CLI/SDK of the dev user."""
        return self.files(f"dev@{self.tenant}").env()

    def trainer_env(self) -> dict[str, str]:
        """TRAINYARD_TLS_* for unsandboxed trainers (sandboxed ones go through the egress proxy)."""
        return self.files(TRAINER).env()

    def predictor_env(self) -> dict[str, str]:
        inference, sidecar = self.files(INFERENCE), self.files(SIDECAR)
        return {
            **inference.env(prefix="TRAINYARD_INFERENCE_TLS_"),
            "TRAINYARD_INFERENCE_ALLOWED_PEERS": SIDECAR,
            **sidecar.env(prefix="TRAINYARD_SIDECAR_INFERENCE_TLS_"),
            "TRAINYARD_SIDECAR_INFERENCE_TLS_SERVER_NAME": INFERENCE,
            **sidecar.env(prefix="TRAINYARD_SIDECAR_PLATFORM_TLS_"),
        }
