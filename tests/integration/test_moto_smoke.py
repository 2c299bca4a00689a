from __future__ import annotations

import boto3
import pytest

pytestmark = pytest.mark.integration


def test_moto_server_answers_s3(moto_endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="smoke")
    assert "smoke" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
