"""Builds the core's dependencies from Settings: the one place that picks adapters.

Switching between the embedded default and a cluster is configuration (endpoints, the
runtime name), never a branch in a handler.
"""

from __future__ import annotations

import ssl
import sys
from typing import TYPE_CHECKING, Any, Literal, TypeAlias
from urllib.parse import urlsplit

import boto3
import httpx
from botocore.config import Config

from functions.blobs.memory import InMemoryBlobStore
from functions.blobs.s3 import S3BlobStore
from functions.core.deps import CoreConfig, Deps, SystemClock
from functions.ports import BlobStore, Clock, EventPublisher, JobRuntime, Predictor
from functions.predicting import HttpPredictor
from functions.publishing import KEEPALIVE_EXPIRY_S, HttpPublisher, RecordingPublisher
from functions.runtimes.absent import AbsentRuntime
from functions.runtimes.manifests import KubernetesConfig
from functions.runtimes.recording import RecordingRuntime
from functions.settings import Settings
from functions.store.memory import InMemoryStore
from sdk.auth.jwks import Fetch, fetch_json
from sdk.auth.signing import PlatformSigner, verifier_for
from sdk.auth.tokens import JobTokenSigner, SecretJobTokens, TokenVerifier

if TYPE_CHECKING:  # imported where used: local mode's embedded store needs neither (PynamoDB: ~0.1 s)
    from functions.store.dynamo import DynamoStore
    from functions.store.tables import Tables

# Every store port in one object: DynamoStore, or local mode's DurableStore (an InMemoryStore).
PlatformStore: TypeAlias = "DynamoStore | InMemoryStore"
# The only functions whose ServiceAccounts mount a token and are bound to the job-runner Role
# (knative/base/cluster/rbac.yaml): every other function gets no Kubernetes runtime at all.
RUNTIME_FUNCTIONS = frozenset({"launch", "cleanup", "sweep"})


def tables_for(settings: Settings) -> Tables:
    from functions.store.tables import make_tables

    return make_tables(prefix=settings.table_prefix, host=settings.dynamodb_endpoint, region=settings.region)


def s3_endpoint(settings: Settings) -> tuple[str, Literal["virtual", "path"]]:
    """The S3 endpoint and addressing style pre-signed URLs are made for.

    On AWS: the REGIONAL virtual-hosted name (`bucket.s3.<region>.amazonaws.com`). The S3
    interface endpoint's private DNS, which the trainer NetworkPolicy pins egress to, covers
    `*.s3.<region>.amazonaws.com` only; the global `bucket.s3.amazonaws.com` (boto3's choice in
    us-east-1) would resolve to public S3 and be dropped. Elsewhere (moto): path style."""
    endpoint = settings.s3_endpoint or f"https://s3.{settings.region}.amazonaws.com"
    host = urlsplit(endpoint).hostname or ""
    return endpoint, "virtual" if host.endswith(".amazonaws.com") else "path"


def s3_client(settings: Settings, credentials: tuple[str, str] | None = None) -> Any:
    """`credentials` (access key id, secret): local mode's own; None = boto3's usual chain."""
    key_id, secret = credentials if credentials is not None else (None, None)
    endpoint, style = s3_endpoint(settings)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=settings.region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(signature_version="s3v4", retries={"mode": "standard"}, s3={"addressing_style": style}),
    )


def kubernetes_config(settings: Settings) -> KubernetesConfig:
    """How trainer Jobs are shaped, from the TRAINYARD_KUBERNETES_* settings."""
    return KubernetesConfig(
        namespace=settings.kubernetes_namespace,
        image_pull_policy=settings.kubernetes_image_pull_policy,
        image_pull_secrets=tuple(settings.kubernetes_image_pull_secrets),
        service_account=settings.kubernetes_service_account,
        scratch_mb=settings.kubernetes_scratch_mb,
        tmp_mb=settings.kubernetes_tmp_mb,
        ttl_after_finished_s=settings.kubernetes_ttl_after_finished_s,
        deadline_grace_s=settings.kubernetes_deadline_grace_s,
        run_as_user=settings.kubernetes_run_as_user,
        gpu_resource=settings.kubernetes_gpu_resource,
        pending_grace_s=settings.kubernetes_pending_grace_s,
        unschedulable_grace_s=settings.kubernetes_unschedulable_grace_s,
        log_tail_lines=settings.kubernetes_log_tail_lines,
    )


def runtime_for(settings: Settings, function: str | None = None) -> JobRuntime:
    """The production runtime the settings name, for `function` (None: any): the cluster's only
    for RUNTIME_FUNCTIONS, an AbsentRuntime for the others. The local runner is local mode's own:
    it is built by `python -m functions.local` and handed to `build`, never imported from here."""
    if settings.runtime == "kubernetes":
        if function is not None and function not in RUNTIME_FUNCTIONS:
            return AbsentRuntime(function)
        from functions.runtimes.kubernetes import connect

        kubeconfig = str(settings.kubeconfig) if settings.kubeconfig is not None else None
        return connect(kubernetes_config(settings), kubeconfig=kubeconfig, token_dir=settings.kubernetes_token_dir)
    raise RuntimeError(
        "TRAINYARD_RUNTIME=local: the local runner is passed in by `python -m functions.local` "
        "(bootstrap.build(settings, runtime=...)); "
        "a deployed function needs TRAINYARD_RUNTIME=kubernetes"
    )


def token_keys(settings: Settings, *, fetch: Fetch = fetch_json) -> tuple[TokenVerifier, JobTokenSigner]:
    """What verifies bearer tokens and what mints job tokens: a JWKS and the platform's ES256
    key in production, the HS256 secret in local mode. Reads the key file; fetches nothing."""
    signer = (
        PlatformSigner.from_pem_file(
            settings.job_token_key_file, issuer=settings.job_token_issuer, audience=settings.token_audience
        )
        if settings.job_token_key_file is not None
        else None
    )
    verifier = verifier_for(
        secret=settings.token_secret,
        jwks_url=settings.jwks_url,
        jwks_file=settings.jwks_file,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        algorithms=settings.token_algorithms,
        leeway_s=settings.token_leeway_s,
        jwks_ttl_s=settings.jwks_cache_s,
        jwks_min_refresh_s=settings.jwks_min_refresh_s,
        job_signer=signer,
        fetch=fetch,
    )
    jobs = signer or SecretJobTokens(
        settings.token_secret, issuer=settings.token_issuer, audience=settings.token_audience
    )
    return verifier, jobs


def broker_client(settings: Settings, verify: ssl.SSLContext | bool) -> httpx.Client:
    """HTTP to the broker: over local mode's internal UNIX socket when there is one."""
    limits = httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S)  # before the broker drops them
    if settings.broker_uds is not None:
        transport = httpx.HTTPTransport(uds=str(settings.broker_uds), limits=limits)
        return httpx.Client(timeout=10.0, transport=transport)
    return httpx.Client(timeout=10.0, verify=verify, limits=limits)


def _validator(settings: Settings) -> dict[str, Any]:
    """What validation tasks run: the platform's own python locally, the configured image in a
    cluster (none configured: validation tasks are refused there)."""
    if settings.runtime == "local":
        return {"validator_command": (sys.executable, "-m", "sdk.validation"), "validator_image": ""}
    if settings.validator_image:
        return {"validator_command": ("python", "-m", "sdk.validation"), "validator_image": settings.validator_image}
    return {"validator_command": (), "validator_image": ""}


def build(
    settings: Settings,
    *,
    runtime: JobRuntime | None = None,
    function: str | None = None,
    http_verify: ssl.SSLContext | bool = True,
    store: PlatformStore | None = None,
    s3_credentials: tuple[str, str] | None = None,
) -> Deps:
    """`function`: the one function these serve (None: all of them, as local mode does).
    `http_verify`: what the broker publisher verifies (and presents) over https, e.g. local
    mode's own client certificate when its API requires mutual TLS. `store`: local mode's
    durable embedded store; None = DynamoDB. `s3_credentials`: local mode's own S3 keys."""
    if store is None:
        from functions.store.dynamo import DynamoStore

        store = DynamoStore(tables_for(settings))
    s3 = s3_client(settings, s3_credentials)
    verifier, job_signer = token_keys(settings)
    config = CoreConfig(
        token_secret=settings.token_secret,
        platform_url=settings.platform_url,
        pools=dict(settings.pools),
        url_expiry_s=settings.url_expiry_s,
        reconcile_grace_s=settings.reconcile_grace_s,
        exit_grace_s=settings.exit_grace_s,
        outcome_wait_s=settings.outcome_wait_s,
        admin_tenant=settings.admin_tenant,
        verifier=verifier,
        job_signer=job_signer,
        event_key=settings.event_key_bytes(),
        trainer_url_expiry_s=settings.trainer_url_expiry_s,
        **_validator(settings),
    )
    return over(
        store,
        datasets=S3BlobStore(s3, bucket=settings.datasets_bucket),
        artifacts=S3BlobStore(s3, bucket=settings.artifacts_bucket),
        logs=S3BlobStore(s3, bucket=settings.logs_bucket),
        runtime=runtime or runtime_for(settings, function),
        events=HttpPublisher(settings.broker_url, client=broker_client(settings, http_verify), key=config.event_key),
        clock=SystemClock(),
        config=config,
        predictor=predictor_for(settings.predictor_url, http_verify) if settings.predictor_url else None,
    )


def predictor_for(url: str, verify: ssl.SSLContext | bool) -> HttpPredictor:
    """The prediction service the API asks on a user's behalf (the same TLS identity as the broker's)."""
    return HttpPredictor(url, transport=httpx.HTTPTransport(verify=verify, retries=0))


def over(
    store: PlatformStore,
    *,
    datasets: BlobStore,
    artifacts: BlobStore,
    logs: BlobStore,
    runtime: JobRuntime,
    events: EventPublisher,
    clock: Clock,
    config: CoreConfig,
    predictor: Predictor | None = None,
) -> Deps:
    """Deps whose every store port is `store` (one object implements them all)."""
    return Deps(
        projects=store,
        tasks=store,
        jobs=store,
        models=store,
        approvals=store,
        audit=store,
        dataset_versions=store,
        datasets=datasets,
        artifacts=artifacts,
        logs=logs,
        runtime=runtime,
        events=events,
        clock=clock,
        config=config,
        predictor=predictor,
    )


def in_memory(
    config: CoreConfig,
    *,
    store: PlatformStore | None = None,
    clock: Clock | None = None,
    runtime: JobRuntime | None = None,
    events: EventPublisher | None = None,
) -> Deps:
    """Every port on an honest fake: an in-memory store (unless `store` is given), in-memory
    buckets, a recording runtime and publisher. For unit tests and benchmarks, never a platform."""
    return over(
        store if store is not None else InMemoryStore(),
        datasets=InMemoryBlobStore(),
        artifacts=InMemoryBlobStore(),
        logs=InMemoryBlobStore(),
        runtime=runtime if runtime is not None else RecordingRuntime(),
        events=events if events is not None else RecordingPublisher(),
        clock=clock if clock is not None else SystemClock(),
        config=config,
    )
