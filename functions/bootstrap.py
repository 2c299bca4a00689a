"""Builds the core's dependencies from Settings: the one place that picks adapters.

Switching between the embedded default and a cluster is configuration (endpoints, the
runtime name), never a branch in a handler.
"""

from __future__ import annotations

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


def build(settings: Settings, *, runtime: JobRuntime | None = None) -> Deps:
    store = DynamoStore(tables_for(settings))
    s3 = s3_client(settings)
    config = CoreConfig(token_secret=settings.token_secret, platform_url=settings.platform_url,
                        pools=dict(settings.pools), url_expiry_s=settings.url_expiry_s,
                        reconcile_grace_s=settings.reconcile_grace_s, exit_grace_s=settings.exit_grace_s,
                        admin_tenant=settings.admin_tenant)
    return Deps(
        projects=store, tasks=store, jobs=store, models=store, approvals=store, audit=store,
        datasets=S3BlobStore(s3, bucket=settings.datasets_bucket),
        artifacts=S3BlobStore(s3, bucket=settings.artifacts_bucket),
        logs=S3BlobStore(s3, bucket=settings.logs_bucket),
        runtime=runtime or runtime_for(settings),
        events=HttpPublisher(settings.broker_url, client=httpx.Client(timeout=10.0)),
        clock=SystemClock(),
        config=config,
    )
