"""Typed settings of the functions, built once in main() and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, FilePath, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.core.deps import DEFAULT_POOL
from functions.domain.admission import PoolPolicy
from sdk.auth import signing, tokens

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
Algorithm = Literal["ES256", "RS256"]


class Settings(BaseSettings):
    """Every field reads TRAINYARD_<NAME> from the environment."""

    model_config = SettingsConfigDict(env_prefix="TRAINYARD_", extra="ignore")

    # -- tokens: HS256 with a secret (local mode), or a JWKS plus the platform's ES256 job key (production)
    token_secret: str = Field(
        default="",
        description="local mode: HS256 secret of user and job tokens (>= 32 bytes, RFC 7518). Leave it "
        "unset with a JWKS: then HS256 is never accepted",
    )
    token_issuer: str = Field(
        default=tokens.ISSUER,
        min_length=1,
        description="`iss` user and service tokens must carry: 'trainyard-local' in local mode; with a JWKS, your "
        "identity provider's issuer (required)",
    )
    token_audience: str = Field(
        default=tokens.AUDIENCE, min_length=1, description="`aud` every token must name: this platform"
    )
    token_leeway_s: float = Field(
        default=tokens.DEFAULT_LEEWAY_S, ge=0, le=60, description="seconds of clock skew tolerated on exp and nbf"
    )
    token_algorithms: list[Algorithm] = Field(
        default_factory=lambda: list[Algorithm](["ES256", "RS256"]),
        min_length=1,
        description="JWKS mode: signature algorithms accepted (HS256 and none never are)",
    )
    jwks_url: str | None = Field(
        default=None,
        description="production: the identity provider's JWKS URL (https; http only on loopback), fetched on first "
        "use, cached jwks_cache_s, refetched when a token names an unknown kid",
    )
    jwks_file: FilePath | None = Field(
        default=None,
        description="production, instead of jwks_url: a JWKS file (a mounted Secret or ConfigMap), "
        "re-read when a token names an unknown kid and the file changed",
    )
    jwks_cache_s: float = Field(
        default=300.0,
        gt=0,
        description="seconds a fetched JWKS is used before a refetch: retired keys stop verifying within this time",
    )
    jwks_min_refresh_s: float = Field(
        default=10.0,
        ge=0,
        description="least seconds between two JWKS fetches (unknown kid, failed fetch): bounds the load made-up "
        "kids put on the identity provider, and how soon a newly rotated key is picked up",
    )
    job_token_key_file: FilePath | None = Field(
        default=None,
        description="PEM EC P-256 private key(s) job tokens are signed with (ES256): the first signs, all are "
        "published at /v1/.well-known/jwks.json. Required with a JWKS; unset: HS256 with token_secret",
    )
    job_token_issuer: str = Field(
        default=signing.JOB_ISSUER, min_length=1, description="`iss` of ES256 job tokens; differs from token_issuer"
    )
    platform_url: str = Field(
        default="http://127.0.0.1:8080",
        description="base URL trainers use to reach the events ingress and data endpoints",
    )
    predictor_url: str | None = Field(
        default=None,
        description="the prediction service's sidecar (REST): POST /v1/jobs/{id}/checkpoints/{epoch}/predict asks "
        "it with the caller's token; unset: that endpoint answers 409 (local mode sets it to its own predictor)",
    )
    broker_url: str = Field(
        default="http://127.0.0.1:8080/broker/",
        description="where functions publish CloudEvents: the Knative broker ingress, or the local dispatcher",
    )
    broker_uds: Path | None = Field(
        default=None,
        description="local mode: the UNIX socket the dispatcher listens on (broker_url then only names the path); "
        "internal delivery is never on the public port",
    )
    event_key: str = Field(
        default="",
        description="the platform's event key (>= 32 bytes): every published event is signed with it and "
        "functions refuse tenant events without a valid signature. Required on Kubernetes",
    )
    event_key_file: FilePath | None = Field(
        default=None,
        description="instead of event_key: a file holding it (a mounted Secret; local mode's 0600 "
        "event.key), so the key is not in the environment",
    )
    region: str = Field(default="us-east-1", description="AWS region of DynamoDB and S3")
    dynamodb_endpoint: str | None = Field(default=None, description="None = AWS; moto's URL in local mode")
    s3_endpoint: str | None = Field(default=None, description="None = AWS; moto's URL in local mode")
    table_prefix: str = Field(default="trainyard-", description="prefix of every DynamoDB table name")
    datasets_bucket: str = Field(default="trainyard-datasets", description="customer datasets")
    artifacts_bucket: str = Field(default="trainyard-artifacts", description="checkpoints, uploads, models")
    logs_bucket: str = Field(default="trainyard-logs", description="trainer logs kept at cleanup")
    url_expiry_s: int = Field(
        default=900,
        ge=30,
        le=7 * 86400,
        description="pre-signed URL lifetime in seconds for users: long enough for a download",
    )
    trainer_url_expiry_s: int = Field(
        default=120,
        ge=10,
        le=3600,
        description="pre-signed URL lifetime in seconds for trainers: the SDK asks for a fresh URL for each transfer, "
        "so a revoked grant stops data flowing within this time",
    )
    runtime: Literal["local", "kubernetes"] = Field(default="local", description="where trainer jobs run")
    state_dir: Path = Field(
        default=Path(".trainyard/runner"), description="local runner: one directory per job (pid, log, exit code)"
    )
    sandbox: Literal["bwrap", "none", "auto"] = Field(
        default="auto",
        description="local runner: bubblewrap sandbox of trainers. auto = bwrap when a trial sandbox works here, "
        "else a warning and none (so `make demo` runs anywhere); bwrap = refuse to start without it; "
        "none = never (warned)",
    )
    sandbox_read_only: list[Path] = Field(
        default_factory=list,
        description="local runner: extra host paths a sandboxed trainer may read (its code, if outside examples/); "
        "the venv, the interpreter, the SDK and examples/ always are",
    )
    job_pids_max: int = Field(
        default=512,
        ge=16,
        le=65536,
        description="local runner: most processes and threads one trainer may have (a per-job pids cgroup, where the "
        "machine allows cgroups); torch's thread pools fit well below it, a fork bomb stops at it",
    )
    pools: dict[str, PoolPolicy] = Field(
        default_factory=lambda: {"default": DEFAULT_POOL},
        description='THE place pools are configured (JSON), e.g. {"default": {"budget": {"slots": 8, '
        '"cpu_milli": 8000, "memory_mb": 16384, "gpu": 0}, "tenant_cap": 4, '
        '"starvation_s": 600}}: per-pool budget, running jobs per tenant, and how long a job that '
        "does not fit may be passed over. Local mode without it: one default pool sized from the "
        "machine (functions.local.platform.machine_pool)",
    )
    reconcile_grace_s: float = Field(
        default=30.0, ge=0, description="seconds a launched job may be missing from the runtime's list"
    )
    exit_grace_s: float = Field(
        default=5.0,
        ge=0,
        description="seconds after a trainer's last ACCEPTED report before its exit without an outcome is a failure",
    )
    outcome_wait_s: float = Field(
        default=600.0,
        gt=0,
        description="seconds an outcome the ingress accepted may wait in the broker before "
        "the sweep judges the job anyway (the broker lost it)",
    )
    admin_tenant: str = Field(
        default="platform",
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="the platform operator's tenant: its admins read every tenant's grants and audit trail and "
        "revoke any grant (a tenant no customer is given)",
    )
    # -- runtime=kubernetes: how trainer Jobs are shaped (functions.runtimes.manifests.KubernetesConfig)
    kubeconfig: Path | None = Field(
        default=None,
        description="a kubeconfig file to reach the cluster with; None = in-cluster credentials "
        "(the function's ServiceAccount)",
    )
    kubernetes_namespace: str = Field(default="trainyard-jobs", min_length=1, description="namespace of trainer Jobs")
    validator_image: str = Field(
        default="",
        max_length=512,
        description="image whose `python -m sdk.validation` checks datasets (validation tasks); "
        "'' = validation tasks are refused on this runtime (local mode runs the platform's own python)",
    )
    kubernetes_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="Always",
        description="Always: a multitenant node must not run an image cached for another tenant "
        "without checking that this pod may pull it",
    )
    kubernetes_image_pull_secrets: list[str] = Field(
        default_factory=list, description="Secret names in the jobs namespace, for private registries (JSON list)"
    )
    kubernetes_service_account: str | None = Field(
        default=None,
        description="trainer pods' ServiceAccount; None = the namespace default (its token is never mounted anyway)",
    )
    kubernetes_scratch_mb: int = Field(
        default=10 * 1024, ge=1, description="MiB of the /scratch emptyDir (the root filesystem is read-only)"
    )
    kubernetes_tmp_mb: int = Field(default=1024, ge=1, description="MiB of the /tmp emptyDir")
    kubernetes_ttl_after_finished_s: int = Field(
        default=24 * 3600,
        ge=0,
        description="seconds before Kubernetes deletes a finished Job: a backstop should "
        "cleanup never run (cleanup deletes sooner)",
    )
    kubernetes_deadline_grace_s: int = Field(
        default=300, ge=0, description="activeDeadlineSeconds = task TTL + this, so the platform's TTL fires first"
    )
    kubernetes_run_as_user: int = Field(
        default=65532, ge=1, description="numeric uid of trainers, so runAsNonRoot holds for any image"
    )
    kubernetes_gpu_resource: str = Field(
        default="nvidia.com/gpu", min_length=1, description="extended-resource name of the cluster's GPU device plugin"
    )
    kubernetes_pending_grace_s: float = Field(
        default=120.0, ge=0, description="seconds a pod may wait on an image pull before the attempt failed"
    )
    kubernetes_unschedulable_grace_s: float = Field(
        default=600.0,
        ge=0,
        description="seconds a pod may stay unschedulable (cluster-autoscaler scale-up takes minutes)",
    )
    kubernetes_log_tail_lines: int = Field(
        default=20_000, ge=1, description="lines of each container's log fetched at most"
    )
    kubernetes_token_dir: Path = Field(
        default=Path("/var/run/secrets/kubernetes.io/serviceaccount"),
        description="where the kubelet mounts the function's ServiceAccount token and CA (in-cluster "
        "credentials); only launch, cleanup and sweep have one",
    )

    def event_key_bytes(self) -> bytes | None:
        """The event key, read from event_key_file when set; None when neither is configured."""
        if self.event_key_file is not None:
            return self.event_key_file.read_text().strip().encode()
        return self.event_key.encode() if self.event_key else None

    @model_validator(mode="after")
    def _one_token_mode(self) -> Self:
        problems = token_problems(self)
        if self.event_key and self.event_key_file is not None:
            problems.append("set TRAINYARD_EVENT_KEY or TRAINYARD_EVENT_KEY_FILE, not both")
        if self.event_key and len(self.event_key.encode()) < 32:
            problems.append("TRAINYARD_EVENT_KEY must be at least 32 bytes")
        if self.runtime == "kubernetes" and not (self.event_key or self.event_key_file):
            problems.append(
                "on Kubernetes, functions verify the platform's signature on every event: set "
                "TRAINYARD_EVENT_KEY or TRAINYARD_EVENT_KEY_FILE (see knative/README.md)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def token_problems(s: Settings) -> list[str]:
    """What is wrong with the token settings: one mode, complete, and no HS256 next to a JWKS."""
    problems = []
    jwks = s.jwks_url or s.jwks_file
    if s.token_secret and len(s.token_secret.encode()) < 32:
        problems.append("TRAINYARD_TOKEN_SECRET must be at least 32 bytes")
    if s.jwks_url and s.jwks_file:
        problems.append("set TRAINYARD_JWKS_URL or TRAINYARD_JWKS_FILE, not both")
    if s.jwks_url:
        url = urlsplit(s.jwks_url)
        if not (url.scheme == "https" or (url.scheme == "http" and url.hostname in _LOOPBACK)):
            problems.append(
                "TRAINYARD_JWKS_URL must be https (plain http only on loopback): keys fetched in the "
                "clear could be swapped"
            )
    if jwks:
        if s.token_secret:
            problems.append("with a JWKS, HS256 is never accepted: unset TRAINYARD_TOKEN_SECRET")
        if s.job_token_key_file is None:
            problems.append("with a JWKS, the platform signs job tokens with TRAINYARD_JOB_TOKEN_KEY_FILE (EC P-256)")
        if "token_issuer" not in s.model_fields_set:
            problems.append("with a JWKS, TRAINYARD_TOKEN_ISSUER must name your identity provider's issuer")
    elif not s.token_secret:
        problems.append("configure TRAINYARD_TOKEN_SECRET (local mode) or TRAINYARD_JWKS_URL/TRAINYARD_JWKS_FILE")
    if s.job_token_key_file is not None and s.job_token_issuer == s.token_issuer:
        problems.append("TRAINYARD_JOB_TOKEN_ISSUER must differ from TRAINYARD_TOKEN_ISSUER")
    return problems
