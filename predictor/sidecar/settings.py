"""Settings of the sidecar (env TRAINYARD_SIDECAR_*, or --kebab-case flags)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import AliasChoices, Field, FilePath, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from predictor.netaddr import is_local_target
from sdk.auth.tls import TLSFiles


class SidecarSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRAINYARD_SIDECAR_", cli_prog_name="python -m predictor.sidecar",
        cli_kebab_case=True, cli_implicit_flags=True, populate_by_name=True,
    )  # fmt: skip

    host: str = Field(default="127.0.0.1", description="Interface the REST API listens on.")
    port: int = Field(default=8090, ge=0, le=65535, description="REST port.")
    grpc_port: int | None = Field(
        default=8091,
        ge=0,
        le=65535,
        description="Port of the Open Inference Protocol (V2) gRPC service (inference.GRPCInferenceService), on "
        "`host`, authenticated with the same bearer tokens as REST; 0 picks a free one, unset turns it off.",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Time a client has to send a request's line and headers, from its first byte (or from the "
        "connection's opening); past it the connection gets 408 and is closed, so half-open requests hold nothing.",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Time a client has to send a request's body once its headers arrived; past it, 408 and close.",
    )
    metrics_token_file: FilePath | None = Field(
        default=None,
        description="A file holding the bearer token Prometheus presents to GET /metrics. Set: /metrics needs it "
        "(401 otherwise) and carries per-tenant and per-model series. Unset: /metrics is open but carries no "
        "tenant or model label (totals per route only), so it names no tenant's models to anyone.",
    )
    token_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        validation_alias=AliasChoices("token_secret", "TRAINYARD_SIDECAR_TOKEN_SECRET", "TRAINYARD_TOKEN_SECRET"),
        description="Local mode: the HS256 secret the platform signs bearer tokens with (TRAINYARD_TOKEN_SECRET "
        "is shared with the platform); tokens are verified locally so a bad one costs no platform call.",
    )
    jwks_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("jwks_url", "TRAINYARD_SIDECAR_JWKS_URL", "TRAINYARD_JWKS_URL"),
        description="Production: the identity provider's JWKS (RS256/ES256; HS256 is then never accepted), "
        "the same one the platform uses. Keys are cached and refetched on an unknown kid.",
    )
    jwks_file: FilePath | None = Field(
        default=None,
        validation_alias=AliasChoices("jwks_file", "TRAINYARD_SIDECAR_JWKS_FILE", "TRAINYARD_JWKS_FILE"),
        description="Production: the JWKS as a mounted file instead of a URL.",
    )
    token_issuer: str = Field(
        default="trainyard-local",
        validation_alias=AliasChoices("token_issuer", "TRAINYARD_SIDECAR_TOKEN_ISSUER", "TRAINYARD_TOKEN_ISSUER"),
        description="`iss` every bearer token must carry (the platform's TRAINYARD_TOKEN_ISSUER).",
    )
    token_audience: str = Field(
        default="trainyard",
        validation_alias=AliasChoices("token_audience", "TRAINYARD_SIDECAR_TOKEN_AUDIENCE", "TRAINYARD_TOKEN_AUDIENCE"),
        description="`aud` every bearer token must name (the platform's TRAINYARD_TOKEN_AUDIENCE).",
    )
    platform_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Base URL of the platform; models are resolved with GET {platform_url}/v1/models/{id}/resolve.",
    )
    inference_target: str = Field(
        default="127.0.0.1:50051",
        description="gRPC target of the inference server (host:port, or unix:/path): the other container of the pod.",
    )
    cache_dir: Path = Field(
        default=Path(".trainyard/predictor"),
        description="Disk cache root: archives are extracted into cache_dir/models/<sha256>/ (the inference "
        "server's model_root), downloads are staged in cache_dir/tmp/.",
    )
    disk_budget_bytes: int = Field(
        default=1 << 30,
        gt=0,
        description="Bytes of extracted models kept on disk (LRU). 1 GiB holds ~18,000 default intent models.",
    )
    resolve_ttl_s: float = Field(
        default=30.0,
        gt=0,
        description="How long a resolution is reused (capped by the pre-signed URL's lifetime): warm requests "
        "make no platform call; a deactivated model stops being served within this time.",
    )
    resolve_negative_ttl_s: float = Field(
        default=2.0,
        ge=0,
        description="How long a 404 from the platform is remembered, so a flood of bad ids stays off the "
        "platform; short, so a model published a moment ago is found quickly.",
    )
    resolve_cache_entries: int = Field(default=100_000, gt=0, description="Most resolutions kept (tenant, model).")
    token_cache_entries: int = Field(
        default=10_000, gt=0, description="Verified tokens remembered (until they expire), saving an HMAC per request."
    )
    micro_batch_max: int = Field(
        default=32,
        ge=0,
        description="Most intent documents sent in one call to the inference server when requests for the same "
        "model arrive while a call for it is in flight (adaptive micro-batching, no timer: a lone request is "
        "sent at once). 0 or 1 turns batching off.",
    )
    request_deadline_s: float = Field(
        default=2.0,
        gt=0,
        description="Time a request may spend resolving, downloading and loading; past it the answer is 503 "
        "with Retry-After while the load goes on for the next request.",
    )
    retry_after_s: int = Field(default=1, ge=0, description="Retry-After seconds sent with 503.")
    platform_timeout_s: float = Field(default=2.0, gt=0, description="Timeout of one resolve call to the platform.")
    download_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one archive download.")
    max_document_chars: int = Field(
        default=5000, gt=0, description="Longest intent document (characters); longer is a 400 that says so."
    )
    max_sample_bytes: int = Field(
        default=1 << 20, gt=0, description="Largest decoded vision sample (bytes); larger is a 400 that says so."
    )
    max_body_bytes: int = Field(
        default=2 << 20, gt=0, description="Largest request body read (bytes), whatever the route."
    )
    max_archive_bytes: int = Field(default=64 << 20, gt=0, description="Largest model archive downloaded (bytes).")
    max_weights_bytes: int = Field(
        default=64 << 20, gt=0, description="Largest weights.pt accepted inside an archive (extraction limit)."
    )
    inference_tls_cert: FilePath | None = Field(
        default=None,
        description="PEM client certificate presented to the inference server. With inference_tls_key and "
        "inference_tls_ca the channel is mutual TLS; unset (the default), plaintext over the pod's loopback.",
    )
    inference_tls_key: FilePath | None = Field(default=None, description="PEM private key of inference_tls_cert.")
    inference_tls_ca: FilePath | None = Field(
        default=None, description="PEM CA bundle the inference server's certificate must chain to."
    )
    inference_tls_server_name: str | None = Field(
        default=None,
        description="Name checked against the inference server's certificate when it is not the target's host "
        "(e.g. 'inference' while dialing 127.0.0.1); unset: the target's host.",
    )
    platform_tls_cert: FilePath | None = Field(
        default=None,
        description="PEM client certificate presented to the platform (resolve calls) when it requires mutual "
        "TLS; with platform_tls_key. Unset: no client certificate.",
    )
    platform_tls_key: FilePath | None = Field(default=None, description="PEM private key of platform_tls_cert.")
    platform_tls_ca: FilePath | None = Field(
        default=None,
        description="PEM CA bundle the platform's certificate must chain to (an https platform_url with a private "
        "CA); unset: the system trust store.",
    )

    @model_validator(mode="after")
    def _one_way_to_verify_tokens(self) -> Self:
        jwks = [n for n in ("jwks_url", "jwks_file") if getattr(self, n)]
        if len(jwks) > 1:
            raise ValueError("configure one JWKS: jwks_url or jwks_file, not both")
        if jwks and self.token_secret is not None:
            raise ValueError("a JWKS and an HS256 token_secret exclude each other (HS256 is refused with a JWKS)")
        if not jwks and self.token_secret is None:
            raise ValueError("no way to verify tokens: set token_secret (local mode) or jwks_url/jwks_file")
        return self

    @model_validator(mode="after")
    def _tls_complete(self) -> Self:
        given = [n for n in ("inference_tls_cert", "inference_tls_key", "inference_tls_ca") if getattr(self, n)]
        if not given and not is_local_target(self.inference_target):
            raise ValueError(
                f"inference_target {self.inference_target!r} is not loopback or a UNIX socket: "
                "reaching the inference server across the network needs mutual TLS "
                "(inference_tls_cert, inference_tls_key, inference_tls_ca)"
            )
        if given and len(given) != 3:
            raise ValueError(
                "mutual TLS to the inference server needs inference_tls_cert, inference_tls_key and "
                f"inference_tls_ca together (got only {', '.join(given)})"
            )
        if (self.platform_tls_cert is None) != (self.platform_tls_key is None):
            raise ValueError("platform_tls_cert and platform_tls_key go together")
        return self

    def inference_tls(self) -> TLSFiles | None:
        """Files for the mutual-TLS channel to the inference server, or None for plaintext."""
        return TLSFiles.of(cert=self.inference_tls_cert, key=self.inference_tls_key, ca=self.inference_tls_ca)

    def platform_tls(self) -> TLSFiles | None:
        """Client certificate and/or CA for the platform's HTTPS API, or None (httpx defaults)."""
        return TLSFiles.of(cert=self.platform_tls_cert, key=self.platform_tls_key, ca=self.platform_tls_ca)
