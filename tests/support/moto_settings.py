"""Settings of a platform whose DynamoDB and S3 are moto's server on 127.0.0.1."""

from __future__ import annotations

import uuid
from typing import Any

from functions.settings import Settings


def moto_settings(endpoint: str, *, name: str, **fields: Any) -> Settings:
    """`fields` on top of moto's endpoint and tables and buckets of their own: a fresh
    `<name>-xxxxxxxx-` prefix per call, so tests sharing one moto server never meet."""
    prefix = f"{name}-{uuid.uuid4().hex[:8]}-"
    return Settings(
        dynamodb_endpoint=endpoint,
        s3_endpoint=endpoint,
        table_prefix=prefix,
        datasets_bucket=prefix + "data",
        artifacts_bucket=prefix + "art",
        logs_bucket=prefix + "logs",
        **fields,
    )
