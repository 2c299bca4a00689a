"""Pre-signed URLs name the regional virtual-hosted S3 host, the one the S3 interface endpoint's
private DNS answers for (and so the only one trainers can reach through their NetworkPolicy)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from functions.blobs.s3 import S3BlobStore
from functions.bootstrap import s3_client
from functions.settings import Settings

SECRET = "0123456789abcdef" * 2


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # signing is local: nothing is sent anywhere
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def url_host(settings: Settings, bucket: str = "trainyard-prod-datasets") -> str:
    blobs = S3BlobStore(s3_client(settings), bucket=bucket)
    return urlsplit(blobs.presign_get("acme/intents.csv", expires_s=60)).hostname or ""


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"])
def test_urls_use_the_regional_virtual_hosted_name(region: str) -> None:
    host = url_host(Settings(token_secret=SECRET, region=region))
    assert host == f"trainyard-prod-datasets.s3.{region}.amazonaws.com"


def test_an_upload_url_too() -> None:
    blobs = S3BlobStore(s3_client(Settings(token_secret=SECRET, region="us-east-1")), bucket="b-1")
    assert urlsplit(blobs.presign_put("acme/j-1/out.bin", expires_s=60)).hostname == "b-1.s3.us-east-1.amazonaws.com"


def test_an_explicit_aws_endpoint_stays_virtual_hosted() -> None:
    settings = Settings(token_secret=SECRET, region="eu-west-1", s3_endpoint="https://s3.eu-west-1.amazonaws.com")
    assert url_host(settings) == "trainyard-prod-datasets.s3.eu-west-1.amazonaws.com"


def test_a_local_endpoint_is_path_style() -> None:
    settings = Settings(token_secret=SECRET, s3_endpoint="http://127.0.0.1:5000")
    blobs = S3BlobStore(s3_client(settings), bucket="b-1")
    url = urlsplit(blobs.presign_get("k", expires_s=60))
    assert (url.hostname, url.path) == ("127.0.0.1", "/b-1/k")
