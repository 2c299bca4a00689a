"""InMemoryBlobStore: the honest fake of functions.ports.BlobStore for unit tests.

Its pre-signed URLs look like `memory://<key>?op=get&expires=<unix time>&sig=<hmac>`
and only this store can honour them (`get_presigned`, `put_presigned`, or
`resolve_presigned` to inspect one): the HMAC with a per-store secret means a URL
for another key or operation, a changed expiry, or another store's URL is refused,
and an expired URL is refused by the injected clock, as S3 would.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, unquote

from functions.ports import BlobDigest, Clock
from sdk.contracts.errors import Forbidden, NotFound

SCHEME = "memory://"


class _UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class _Blob:
    data: bytes
    content_type: str


class InMemoryBlobStore:
    """BlobStore in a dict, thread-safe."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock if clock is not None else _UtcClock()
        self._secret = secrets.token_bytes(16)
        self._lock = threading.Lock()
        self._blobs: dict[str, _Blob] = {}
        self.digests_computed = 0

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        with self._lock:
            self._blobs[key] = _Blob(bytes(data), content_type)

    def get(self, key: str) -> bytes:
        with self._lock:
            blob = self._blobs.get(key)
        if blob is None:
            raise NotFound("blob", key)
        return blob.data

    def exists(self, key: str) -> bool:
        with self._lock:
            return key in self._blobs

    def delete(self, key: str) -> None:
        with self._lock:
            self._blobs.pop(key, None)

    def presign_get(self, key: str, *, expires_s: int) -> str:
        return self._presign("get", key, expires_s)

    def digest(self, key: str) -> BlobDigest:
        data = self.get(key)
        self.digests_computed += 1
        return BlobDigest(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))

    def presign_put(self, key: str, *, expires_s: int) -> str:
        return self._presign("put", key, expires_s)

    # -- what tests inspect and play -------------------------------------------------

    def keys(self, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(k for k in self._blobs if k.startswith(prefix))

    def content_type(self, key: str) -> str:
        with self._lock:
            blob = self._blobs.get(key)
        if blob is None:
            raise NotFound("blob", key)
        return blob.content_type

    def resolve_presigned(self, url: str) -> tuple[str, str]:
        """(operation, key) of a URL this store signed and that has not expired; else Forbidden."""
        if not url.startswith(SCHEME) or "?" not in url:
            raise Forbidden(f"not a pre-signed URL of this store: {url!r}")
        quoted_key, query = url[len(SCHEME) :].split("?", 1)
        params = {name: values[-1] for name, values in parse_qs(query).items()}
        op, expires, sig = params.get("op", ""), params.get("expires", ""), params.get("sig", "")
        key = unquote(quoted_key)
        if not expires.isdigit() or not hmac.compare_digest(sig, self._sign(op, key, int(expires))):
            raise Forbidden(f"bad signature: {url!r}")
        if self._clock.now().timestamp() > int(expires):
            raise Forbidden(f"expired: {url!r}")
        return op, key

    def get_presigned(self, url: str) -> bytes:
        """What an HTTP GET of the URL returns."""
        key = self._resolve(url, "get")
        return self.get(key)

    def put_presigned(self, url: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        """What an HTTP PUT of `data` to the URL does."""
        self.put(self._resolve(url, "put"), data, content_type=content_type)

    # -- internals -------------------------------------------------------------------

    def _presign(self, op: str, key: str, expires_s: int) -> str:
        expires = int(self._clock.now().timestamp()) + expires_s
        return f"{SCHEME}{quote(key, safe='/')}?op={op}&expires={expires}&sig={self._sign(op, key, expires)}"

    def _sign(self, op: str, key: str, expires: int) -> str:
        message = f"{op}\n{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def _resolve(self, url: str, want: str) -> str:
        op, key = self.resolve_presigned(url)
        if op != want:
            raise Forbidden(f"URL is for {op}, not {want}: {url!r}")
        return key
