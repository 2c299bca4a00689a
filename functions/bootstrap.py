"""Builds the core's dependencies from Settings: the one place that picks adapters.

Switching between the embedded default and a cluster is configuration (endpoints, the
runtime name), never a branch in a handler.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import boto3
import httpx
from botocore.config import Config

from functions.blobs.s3 import S3BlobStore
from functions.core.deps import CoreConfig, Deps, SystemClock
from functions.ports import JobRuntime
from functions.publishing import HttpPublisher
from functions.settings import Settings
from functions.store.dynamo import DynamoStore
from functions.store.tables import Tables, make_tables
from sdk.contracts.jwks import Fetch, fetch_json
from sdk.contracts.signing import PlatformSigner, verifier_for
from sdk.contracts.tokens import JobTokenSigner, SecretJobTokens, TokenVerifier

_lock = threading.Lock()
_installed: Deps | None = None


def install(deps: Deps | None) -> None:
    """Serve these dependencies in this process (local mode, tests); None forgets them."""
    global _installed
    with _lock:
        _installed = deps


def deps() -> Deps:
    """The process's dependencies, built from the environment on first use."""
    global _installed
    with _lock:
        if _installed is None:
            _installed = build(Settings())  # fields come from TRAINYARD_* variables
        return _installed


def tables_for(settings: Settings) -> Tables:
    return make_tables(prefix=settings.table_prefix, host=settings.dynamodb_endpoint, region=settings.region)


def s3_client(settings: Settings) -> Any:
    return boto3.client("s3", endpoint_url=settings.s3_endpoint, region_name=settings.region,
                        config=Config(signature_version="s3v4", retries={"mode": "standard"}))


def runtime_for(settings: Settings) -> JobRuntime:
    if settings.runtime == "kubernetes":
        from functions.runtimes.kubernetes import from_settings

        return from_settings(settings)
    from functions.runtimes.local import LocalRuntime

    return LocalRuntime(settings.state_dir)


def token_keys(settings: Settings, *, fetch: Fetch = fetch_json) -> tuple[TokenVerifier, JobTokenSigner]:
    """What verifies bearer tokens and what mints job tokens: a JWKS and the platform's ES256
    key in production, the HS256 secret in local mode. Reads the key file; fetches nothing."""
    signer = (PlatformSigner.from_pem_file(settings.job_token_key_file, issuer=settings.job_token_issuer,
                                           audience=settings.token_audience)
              if settings.job_token_key_file is not None else None)
    verifier = verifier_for(secret=settings.token_secret, jwks_url=settings.jwks_url, jwks_file=settings.jwks_file,
                            issuer=settings.token_issuer, audience=settings.token_audience,
                            algorithms=settings.token_algorithms, leeway_s=settings.token_leeway_s,
                            jwks_ttl_s=settings.jwks_cache_s, jwks_min_refresh_s=settings.jwks_min_refresh_s,
                            job_signer=signer, fetch=fetch)
    jobs = signer or SecretJobTokens(settings.token_secret, issuer=settings.token_issuer,
                                     audience=settings.token_audience)
    return verifier, jobs


def build(settings: Settings, *, runtime: JobRuntime | None = None,
          http_verify: ssl.SSLContext | bool = True) -> Deps:
    """`http_verify`: what the broker publisher verifies (and presents) over https, e.g. local
    mode's own client certificate when its API requires mutual TLS."""
    store = DynamoStore(tables_for(settings))
    s3 = s3_client(settings)
    verifier, job_signer = token_keys(settings)
    config = CoreConfig(token_secret=settings.token_secret, platform_url=settings.platform_url,
                        pools=dict(settings.pools), url_expiry_s=settings.url_expiry_s,
                        reconcile_grace_s=settings.reconcile_grace_s, exit_grace_s=settings.exit_grace_s,
                        outcome_wait_s=settings.outcome_wait_s,
                        admin_tenant=settings.admin_tenant, verifier=verifier, job_signer=job_signer)
    return Deps(
        projects=store, tasks=store, jobs=store, models=store, approvals=store, audit=store,
        datasets=S3BlobStore(s3, bucket=settings.datasets_bucket),
        artifacts=S3BlobStore(s3, bucket=settings.artifacts_bucket),
        logs=S3BlobStore(s3, bucket=settings.logs_bucket),
        runtime=runtime or runtime_for(settings),
        events=HttpPublisher(settings.broker_url, client=httpx.Client(timeout=10.0, verify=http_verify)),
        clock=SystemClock(),
        config=config,
    )
