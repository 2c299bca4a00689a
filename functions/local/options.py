"""What `trainyard up` was asked for (a light module: the platform's start-up reads it first)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from functions.local.tls import LocalTLS


@dataclass(frozen=True)
class LocalOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    state_dir: Path = Path(".trainyard")
    sweep_interval_s: float = 2.0
    tenant: str = "demo"  # the tenant of the printed dev token
    tls: LocalTLS | None = None  # mutual TLS on the API (--tls DIR)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls is not None else 'http'}://{self.host}:{self.port}"
