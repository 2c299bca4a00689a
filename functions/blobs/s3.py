"""S3BlobStore: functions.ports.BlobStore on one S3 bucket, through a boto3 client.

The caller builds the clients from settings (endpoint_url, region, retries): nothing
here reads the environment. A second client may sign the pre-signed URLs, so that they
carry an endpoint the trainers or users can reach (a public host) while the platform
talks to an internal one; signing needs no network, only the same credentials.

botocore's exceptions are translated in exactly one place, `_translated`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError

from functions.ports import BlobDigest
from sdk.contracts.errors import NotFound, PermanentError, TemporaryError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CreateBucketConfigurationTypeDef

log = logging.getLogger(__name__)
SHA256_METADATA = "trainyard-sha256"  # x-amz-meta-trainyard-sha256: the content digest the platform computed
_CHUNK = 1024 * 1024
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_TRANSIENT = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "503",
        "500",
    }
)
_OURS_ALREADY = frozenset({"BucketAlreadyOwnedByYou"})


class S3BlobStore:
    """Blobs in `bucket`. get of a missing key raises NotFound("blob", key)."""

    def __init__(self, client: S3Client, *, bucket: str, presign_client: S3Client | None = None) -> None:
        self._client = client
        self._presigner = presign_client if presign_client is not None else client
        self.bucket = bucket

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        with _translated(key):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        with _translated(key):
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read()  # inside: a dropped stream is a transient failure too

    def exists(self, key: str) -> bool:
        try:
            with _translated(key):
                self._client.head_object(Bucket=self.bucket, Key=key)
        except NotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        with _translated(key):  # S3 deletes are idempotent: a missing key is fine
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def presign_get(self, key: str, *, expires_s: int) -> str:
        with _translated(key):
            return self._presigner.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
            )

    def presign_put(self, key: str, *, expires_s: int) -> str:
        with _translated(key):
            return self._presigner.generate_presigned_url(
                "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
            )

    def digest(self, key: str) -> BlobDigest:
        """sha256 and size of the object: from its `trainyard-sha256` metadata when an earlier
        call kept it there, else read (streamed) and kept with it by an in-place copy that
        applies only if the object is still the one that was read (CopySourceIfMatch).

        Only the platform writes that metadata: S3 refuses x-amz-meta-* headers a pre-signed
        PUT was not signed with, and an upload replaces the object with its metadata."""
        with _translated(key):
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        size, etag = int(head["ContentLength"]), str(head.get("ETag", ""))
        kept = (head.get("Metadata") or {}).get(SHA256_METADATA, "")
        if len(kept) == 64:
            return BlobDigest(sha256=kept, size_bytes=size)
        h = hashlib.sha256()
        with _translated(key):
            body = self._client.get_object(Bucket=self.bucket, Key=key, IfMatch=etag)["Body"]
            for chunk in body.iter_chunks(_CHUNK):
                h.update(chunk)
        found = BlobDigest(sha256=h.hexdigest(), size_bytes=size)
        self._keep_digest(key, etag, found, content_type=str(head.get("ContentType") or "application/octet-stream"))
        return found

    def _keep_digest(self, key: str, etag: str, found: BlobDigest, *, content_type: str) -> None:
        try:
            with _translated(key):
                self._client.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": key},
                    CopySourceIfMatch=etag,
                    Metadata={SHA256_METADATA: found.sha256},
                    MetadataDirective="REPLACE",
                    ContentType=content_type,
                )
        except (PermanentError, TemporaryError) as exc:  # changed meanwhile, or too big to copy: next time again
            log.info("dataset digest not kept with the object", extra={"key": key, "error": str(exc)})

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (local mode; production buckets are provisioned)."""
        region = self._client.meta.region_name
        with _translated(self.bucket):
            try:
                if region and region != "us-east-1":  # us-east-1 refuses an explicit constraint
                    config = cast("CreateBucketConfigurationTypeDef", {"LocationConstraint": region})
                    self._client.create_bucket(Bucket=self.bucket, CreateBucketConfiguration=config)
                else:
                    self._client.create_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _code(exc) not in _OURS_ALREADY:
                    raise


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


@contextmanager
def _translated(key: str) -> Iterator[None]:
    """botocore's errors as ours: missing -> NotFound, transient -> TemporaryError, else PermanentError."""
    try:
        yield
    except ClientError as exc:
        code = _code(exc)
        if code in _MISSING:
            raise NotFound("blob", key) from exc
        if code in _TRANSIENT or _status(exc) >= 500:
            raise TemporaryError(f"S3 is briefly unavailable ({code}): {exc}") from exc
        raise PermanentError(f"S3 refused the request for {key!r} ({code}): {exc}") from exc
    except (BotoConnectionError, HTTPClientError, IncompleteReadError) as exc:
        raise TemporaryError(f"S3 cannot be reached: {exc}") from exc
    except BotoCoreError as exc:  # credentials, parameters, configuration: retrying cannot help
        raise PermanentError(f"S3 client error for {key!r}: {exc}") from exc
