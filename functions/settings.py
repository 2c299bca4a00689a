"""Typed settings of the functions, built once in main() and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.domain.admission import Capacity, PoolPolicy


class Settings(BaseSettings):
    """Every field reads TRAINYARD_<NAME> from the environment."""

    model_config = SettingsConfigDict(env_prefix="TRAINYARD_", extra="ignore")

    token_secret: str = Field(
        min_length=32, description="HS256 secret for user and job tokens (local mode; >= 32 bytes, RFC 7518)"
    )
    platform_url: str = Field(
        default="http://127.0.0.1:8080",
        description="base URL trainers use to reach the events ingress and data endpoints",
    )
    broker_url: str = Field(
        default="http://127.0.0.1:8080/broker/",
        description="where functions publish CloudEvents: the Knative broker ingress, or the local dispatcher",
    )
    region: str = Field(default="us-east-1", description="AWS region of DynamoDB and S3")
    dynamodb_endpoint: str | None = Field(default=None, description="None = AWS; moto's URL in local mode")
    s3_endpoint: str | None = Field(default=None, description="None = AWS; moto's URL in local mode")
    table_prefix: str = Field(default="trainyard-", description="prefix of every DynamoDB table name")
    datasets_bucket: str = Field(default="trainyard-datasets", description="customer datasets")
    artifacts_bucket: str = Field(default="trainyard-artifacts", description="checkpoints, uploads, models")
    logs_bucket: str = Field(default="trainyard-logs", description="trainer logs kept at cleanup")
    url_expiry_s: int = Field(default=900, ge=30, le=7 * 86400,
                              description="pre-signed URL lifetime in seconds: long enough for a download")
    runtime: Literal["local", "kubernetes"] = Field(default="local", description="where trainer jobs run")
    state_dir: Path = Field(default=Path(".trainyard/runner"),
                            description="local runner: one directory per job (pid, log, exit code)")
    sandbox: Literal["bwrap", "none", "auto"] = Field(
        default="auto",
        description="local runner: bubblewrap sandbox of trainers. auto = bwrap when a trial sandbox works here, "
                    "else a warning and none (so `make demo` runs anywhere); bwrap = refuse to start without it; "
                    "none = never (warned)")
    sandbox_read_only: list[Path] = Field(
        default_factory=list,
        description="local runner: extra host paths a sandboxed trainer may read (its code, if outside examples/); "
                    "the venv, the interpreter, the SDK and examples/ always are")
    pools: dict[str, PoolPolicy] = Field(
        default_factory=lambda: {
            "default": PoolPolicy(budget=Capacity(slots=4, cpu_milli=8000, memory_mb=16384, gpu=0), tenant_cap=4)
        },
        description="per-pool budget (slots, cpu_milli, memory_mb, gpu) and per-tenant cap of running jobs (JSON)",
    )
    reconcile_grace_s: float = Field(default=30.0, ge=0,
                                     description="seconds a launched job may be missing from the runtime's list")
    exit_grace_s: float = Field(default=5.0, ge=0,
                                description="seconds after a trainer exits before a missing outcome is a failure")
    admin_tenant: str = Field(
        default="platform", min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="the platform operator's tenant: its admins read every tenant's grants and audit trail and "
                    "revoke any grant (a tenant no customer is given)")
    kubernetes_namespace: str = Field(default="trainyard-jobs", description="namespace of trainer Jobs")
