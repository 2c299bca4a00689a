"""Shared by the egress tests: the platform and S3 endpoints, an offline SigV4 signer, the policy."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config

from functions.local.egress_policy import EgressPolicy

PLATFORM = "http://127.0.0.1:8080"
S3 = "http://127.0.0.1:9000"
KEY, SECRET = "AKIDLOCAL", "local-secret"
WAIT_S = 5.0


@pytest.fixture(scope="module")
def s3() -> Any:
    """Signs URLs offline, as the platform's presign client does (SigV4)."""
    return boto3.client(
        "s3",
        endpoint_url=S3,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4"),
    )


def presign(
    s3: Any,
    method: str = "get_object",
    key: str = "datasets/reviews.csv",
    expires: int = 300,
    *,
    issue_to: EgressPolicy | None = None,
    job_id: str = "j-1",
) -> str:
    """A SigV4 URL; with `issue_to`, recorded there as issued to `job_id` (what the proxy does
    when the platform hands the job a URL)."""
    url = str(s3.generate_presigned_url(method, Params={"Bucket": "data", "Key": key}, ExpiresIn=expires))
    if issue_to is not None:
        assert issue_to.issue(job_id, method={"get_object": "GET", "put_object": "PUT"}[method], url=url)
    return url


@pytest.fixture
def policy() -> EgressPolicy:
    return EgressPolicy(platform_url=PLATFORM, s3_endpoint=S3, credentials={KEY: SECRET})
