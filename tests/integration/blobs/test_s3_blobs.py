"""S3BlobStore against a real moto server; the shared contract also holds for InMemoryBlobStore."""

from __future__ import annotations

import hashlib
import socket
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config

from functions.blobs.memory import InMemoryBlobStore
from functions.blobs.s3 import S3BlobStore
from functions.ports import BlobStore
from sdk.contracts.errors import NotFound, PermanentError, TemporaryError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration

KEYS = ["plain", "tenant-a/job-1/checkpoint 3.pt", "ünïcode/ключ?#%.bin"]


def s3_client(endpoint: str, *, region: str = "us-east-1", attempts: int = 3) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        config=Config(
            signature_version="s3v4",
            connect_timeout=1,
            read_timeout=5,
            retries={"mode": "standard", "max_attempts": attempts},
        ),
    )


def new_bucket() -> str:
    return f"blobs-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_store(moto_endpoint: str) -> S3BlobStore:
    store = S3BlobStore(s3_client(moto_endpoint), bucket=new_bucket())
    store.ensure_bucket()
    return store


@pytest.fixture(params=["s3", "memory"])
def store(request: pytest.FixtureRequest) -> BlobStore:
    if request.param == "memory":
        return InMemoryBlobStore()
    s3: S3BlobStore = request.getfixturevalue("s3_store")
    return s3


# -- the contract, for the adapter and its fake --------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_put_get_exists_delete(store: BlobStore, key: str) -> None:
    assert not store.exists(key)

    store.put(key, b"\x00weights\xff", content_type="application/x-torch")

    assert store.exists(key)
    assert store.get(key) == b"\x00weights\xff"
    store.put(key, b"v2")  # overwrite
    assert store.get(key) == b"v2"
    store.delete(key)
    assert not store.exists(key)


def test_get_of_a_missing_key_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound) as caught:
        store.get("never/written")

    assert (caught.value.kind, caught.value.ident) == ("blob", "never/written")
    store.delete("never/written")  # deleting a missing key is fine


def test_an_empty_blob_is_a_blob(store: BlobStore) -> None:
    store.put("empty", b"")

    assert store.exists("empty") and store.get("empty") == b""


# -- S3 specifics --------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_presigned_put_then_presigned_get_over_http(s3_store: S3BlobStore, key: str) -> None:
    upload = s3_store.presign_put(key, expires_s=60)
    assert httpx.put(upload, content=b"dataset rows").status_code == 200

    download = s3_store.presign_get(key, expires_s=120)
    response = httpx.get(download)

    assert response.status_code == 200 and response.content == b"dataset rows"
    assert s3_store.get(key) == b"dataset rows"
    assert parse_qs(urlsplit(download).query)["X-Amz-Expires"] == ["120"]


def test_presigned_urls_carry_the_public_endpoint(moto_endpoint: str) -> None:
    public = moto_endpoint.replace("127.0.0.1", "localhost")  # same server, another name
    bucket = new_bucket()
    store = S3BlobStore(s3_client(moto_endpoint), bucket=bucket, presign_client=s3_client(public))
    store.ensure_bucket()

    upload = store.presign_put("k", expires_s=60)
    download = store.presign_get("k", expires_s=60)

    assert upload.startswith(f"{public}/{bucket}/k?") and download.startswith(f"{public}/{bucket}/k?")
    assert httpx.put(upload, content=b"via public").status_code == 200
    assert httpx.get(download).content == b"via public"


def test_content_type_is_stored(s3_store: S3BlobStore, moto_endpoint: str) -> None:
    s3_store.put("report.json", b"{}", content_type="application/json")

    response = httpx.get(s3_store.presign_get("report.json", expires_s=60))

    assert response.headers["content-type"] == "application/json"


def test_ensure_bucket_is_idempotent_outside_us_east_1(moto_endpoint: str) -> None:
    store = S3BlobStore(s3_client(moto_endpoint, region="eu-west-1"), bucket=new_bucket())

    store.ensure_bucket()
    store.ensure_bucket()

    store.put("k", b"v")
    assert store.get("k") == b"v"


def test_a_missing_bucket_is_a_permanent_error(moto_endpoint: str) -> None:
    store = S3BlobStore(s3_client(moto_endpoint), bucket=new_bucket())

    with pytest.raises(PermanentError):
        store.put("k", b"v")


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get("k"),
        lambda s: s.put("k", b"v"),
        lambda s: s.exists("k"),  # must not pass an outage off as "missing"
        lambda s: s.delete("k"),
    ],
    ids=["get", "put", "exists", "delete"],
)
def test_an_unreachable_endpoint_is_a_temporary_error(aws_env: None, call: Callable[[S3BlobStore], object]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening: refused
    store = S3BlobStore(s3_client(closed, attempts=1), bucket="unreachable")

    with pytest.raises(TemporaryError):
        call(store)


def test_digest_is_the_content_sha256_and_size(store: BlobStore) -> None:
    store.put("data/rows.csv", b"a,b\n" * 300)
    found = store.digest("data/rows.csv")
    assert (found.sha256, found.size_bytes) == (hashlib.sha256(b"a,b\n" * 300).hexdigest(), 1200)
    assert store.digest("data/rows.csv") == found and store.get("data/rows.csv") == b"a,b\n" * 300
    with pytest.raises(NotFound):
        store.digest("data/missing.csv")


def test_s3_keeps_the_digest_in_the_objects_metadata(s3_store: S3BlobStore) -> None:
    s3_store.put("data/rows.csv", b"rows", content_type="text/csv")
    s3_store.digest("data/rows.csv")
    head = s3_store._client.head_object(Bucket=s3_store.bucket, Key="data/rows.csv")
    assert head["Metadata"]["trainyard-sha256"] == hashlib.sha256(b"rows").hexdigest()
    assert head["ContentType"] == "text/csv"  # the in-place copy kept what the upload said
