"""Local mode's S3 (SeaweedFS, functions/local/objects.py) through the platform's own S3 adapter:
the blob contract, signatures checked (pre-signed URLs included), objects kept across kill -9."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
import pytest
from botocore.config import Config

from functions.blobs.s3 import S3BlobStore
from functions.local.credentials import S3Credentials, s3_credentials
from functions.local.objects import SeaweedS3, start
from sdk.contracts.errors import NotFound, PermanentError, TemporaryError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration
KEYS = ["plain", "tenant-a/job-1/checkpoint 3.pt", "ünïcode/ключ?#%.bin"]


def client(endpoint: str, keys: S3Credentials) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 2}),
    )


def running(state: Path) -> SeaweedS3:
    server = start(state / "blobs", s3_credentials(state))
    server.wait_ready()
    return server


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def server(state: Path) -> Iterator[SeaweedS3]:
    s = running(state)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def store(server: SeaweedS3, state: Path) -> S3BlobStore:
    blobs = S3BlobStore(client(server.endpoint, s3_credentials(state)), bucket="trainyard-datasets")
    blobs.ensure_bucket()
    blobs.ensure_bucket()  # twice: an existing bucket of ours is fine
    return blobs


@pytest.mark.parametrize("key", KEYS)
def test_the_blob_contract_holds(store: S3BlobStore, key: str) -> None:
    assert not store.exists(key)
    store.put(key, b"weights")
    assert store.exists(key) and store.get(key) == b"weights"
    store.delete(key)
    with pytest.raises(NotFound):
        store.get(key)


def test_presigned_urls_work_and_a_tampered_or_expired_one_is_refused(store: S3BlobStore) -> None:
    put = store.presign_put("up/data.csv", expires_s=60)
    assert httpx.put(put, content=b"a,b\n").status_code == 200
    get = store.presign_get("up/data.csv", expires_s=60)
    assert httpx.get(get).content == b"a,b\n"
    assert httpx.get(get.replace("up/data.csv", "up/other.csv")).status_code == 403  # signed for another key
    assert httpx.get(get.replace("X-Amz-Signature=", "X-Amz-Signature=0")).status_code == 403
    assert httpx.put(get, content=b"overwrite").status_code == 403  # a GET URL does not allow a PUT
    soon = store.presign_get("up/data.csv", expires_s=1)
    time.sleep(2.1)
    assert httpx.get(soon).status_code == 403  # expired


def test_unsigned_and_wrongly_signed_requests_are_refused(server: SeaweedS3, state: Path, store: S3BlobStore) -> None:
    store.put("secret.bin", b"customer data")
    assert httpx.get(f"{server.endpoint}/trainyard-datasets/secret.bin").status_code == 403
    assert httpx.get(f"{server.endpoint}/").status_code == 403  # no listing of buckets either
    keys = s3_credentials(state)
    forged = S3BlobStore(
        client(server.endpoint, S3Credentials(keys.access_key_id, "not-the-secret")), bucket="trainyard-datasets"
    )
    with pytest.raises(PermanentError, match="SignatureDoesNotMatch"):
        forged.get("secret.bin")


def test_the_credentials_are_random_per_installation_and_private(tmp_path: Path, state: Path) -> None:
    mine, other = s3_credentials(state), s3_credentials(tmp_path)
    assert mine != other and s3_credentials(state) == mine  # made once, then kept
    assert (state / "s3-credentials.json").stat().st_mode & 0o777 == 0o600
    assert mine.secret_access_key not in repr(mine)


def test_objects_survive_kill_9_and_a_restart(tmp_path: Path) -> None:
    first = running(tmp_path)
    keys = s3_credentials(tmp_path)
    S3BlobStore(client(first.endpoint, keys), bucket="trainyard-artifacts").ensure_bucket()
    S3BlobStore(client(first.endpoint, keys), bucket="trainyard-artifacts").put("ckpt/1.pt", b"\x00" * 70_000)
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait()
    again = running(tmp_path)  # new ports, same directory
    try:
        store = S3BlobStore(client(again.endpoint, keys), bucket="trainyard-artifacts")
        deadline = time.monotonic() + 60
        while True:  # the gateway answers before its volume server has reloaded: briefly 503-like
            try:
                assert store.get("ckpt/1.pt") == b"\x00" * 70_000
                break
            except TemporaryError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        again.stop()


def test_a_digest_is_computed_once_and_kept_with_the_object(store: S3BlobStore) -> None:
    data = b"text,label\n" * 1000
    store.put("digest/data.csv", data, content_type="text/csv")
    first = store.digest("digest/data.csv")
    assert (first.sha256, first.size_bytes) == (hashlib.sha256(data).hexdigest(), len(data))
    assert store.get("digest/data.csv") == data  # the in-place copy kept the bytes
    store.put("digest/data.csv", b"new upload")  # an upload replaces the object and its metadata
    assert store.digest("digest/data.csv").sha256 == hashlib.sha256(b"new upload").hexdigest()


def test_an_uploader_cannot_plant_the_digest_through_a_presigned_put(store: S3BlobStore) -> None:
    put = store.presign_put("digest/planted.csv", expires_s=60)
    planted = httpx.put(put, content=b"real rows", headers={"x-amz-meta-trainyard-sha256": "0" * 64})
    if planted.status_code == 200:  # the server took the unsigned header: the digest must not trust it
        assert store.digest("digest/planted.csv").sha256 == hashlib.sha256(b"real rows").hexdigest()
    else:
        assert planted.status_code == 403
