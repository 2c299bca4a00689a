"""Model resolution through the platform, and a short-lived cache of the answers.

The platform is the only source of truth about models (the predictor reads no table):

    GET {platform_url}/v1/models/{model_id}/resolve     (the caller's Authorization forwarded)
    200 {"modelId", "tenant", "sha256", "sizeBytes", "kind", "labels", "url", "expiresIn"}
    404 unknown model, or another tenant's

`url` is a pre-signed GET of the archive, valid `expiresIn` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import httpx
from cachetools import TLRUCache
from pydantic import ValidationError as PydanticValidationError

from predictor.cache import SingleFlight
from sdk.contracts.errors import Forbidden, NotFound, PermanentError, TemporaryError, Unauthenticated
from sdk.contracts.resolve import ModelResolution

Clock = Callable[[], float]


@dataclass(frozen=True)
class Resolution:
    model_id: str
    tenant: str
    sha256: str
    size_bytes: int
    kind: str
    labels: tuple[str, ...]
    url: str
    url_expires_at: float  # on the resolver's clock


class PlatformResolver:
    """One resolve call to the platform; its HTTP errors become sdk.contracts.errors here, once."""

    def __init__(self, client: httpx.AsyncClient, *, clock: Clock = time.monotonic) -> None:
        self._client = client  # base_url = platform_url, with its timeout
        self._clock = clock
        self.calls = 0

    async def resolve(self, model_id: str, *, authorization: str) -> Resolution:
        self.calls += 1
        path = f"/v1/models/{quote(model_id, safe='')}/resolve"
        try:
            response = await self._client.get(path, headers={"Authorization": authorization})
        except httpx.HTTPError as exc:
            raise TemporaryError(f"platform unreachable: {exc}") from exc
        status = response.status_code
        if status == 200:
            return self._parse(response)
        if status == 404:
            raise NotFound("model", model_id)
        if status == 401:
            raise Unauthenticated("the platform refused the token")
        if status == 403:
            raise Forbidden("the platform refused this model to the caller")
        if status == 429 or status >= 500:
            raise TemporaryError(f"platform answered {status}")
        raise PermanentError(f"platform answered {status} to a resolve: {response.text[:200]}")

    def _parse(self, response: httpx.Response) -> Resolution:
        try:
            body = ModelResolution.model_validate_json(response.content)
        except PydanticValidationError as exc:
            raise PermanentError(f"platform sent an invalid resolution: {exc}") from exc
        return Resolution(
            model_id=body.modelId,
            tenant=body.tenant,
            sha256=body.sha256,
            size_bytes=body.sizeBytes,
            kind=body.kind,
            labels=tuple(body.labels),
            url=body.url,
            url_expires_at=self._clock() + body.expiresIn,
        )


@dataclass(frozen=True)
class _Cached:
    expires_at: float
    resolution: Resolution | None  # None: the platform said 404


class CachedResolver:
    """Reuses answers for `ttl_s` (404s for `negative_ttl_s`), keyed by (tenant, model id).

    A cached answer serves every principal of the same tenant: what a model resolves to
    does not depend on which of the tenant's users asks. Concurrent misses with the same
    credentials share one platform call.
    """

    def __init__(
        self,
        inner: PlatformResolver,
        *,
        ttl_s: float,
        negative_ttl_s: float,
        max_entries: int,
        clock: Clock = time.monotonic,
    ) -> None:
        self._inner = inner
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._clock = clock
        # LRU bounded in entries, each entry dropped at its own expiry (answers and 404s differ)
        self._cache: TLRUCache[tuple[str, str], _Cached] = TLRUCache(
            maxsize=max_entries, ttu=lambda _k, v, _now: v.expires_at, timer=clock
        )
        self._flight: SingleFlight[tuple[str, str, str], Resolution] = SingleFlight()

    def cached(self, *, tenant: str, model_id: str) -> Resolution | None:
        """The cached resolution, None on a miss; raise NotFound for a remembered 404."""
        entry = self._cache.get((tenant, model_id))
        if entry is None:
            return None
        if entry.resolution is None:
            raise NotFound("model", model_id)
        return entry.resolution

    async def resolve(self, *, tenant: str, model_id: str, authorization: str) -> Resolution:
        """The resolution from the platform (single-flight), cached; use `cached` first."""
        key = (tenant, model_id, authorization)
        return await self._flight.do(key, lambda: self._fetch(tenant, model_id, authorization))

    def invalidate(self, *, tenant: str, model_id: str) -> None:
        """Forget an answer (e.g. its pre-signed URL was refused)."""
        self._cache.pop((tenant, model_id), None)

    async def _fetch(self, tenant: str, model_id: str, authorization: str) -> Resolution:
        try:
            resolution = await self._inner.resolve(model_id, authorization=authorization)
        except NotFound:
            self._store((tenant, model_id), _Cached(self._clock() + self._negative_ttl_s, None))
            raise
        if resolution.tenant != tenant:  # defence in depth: never serve another tenant's model
            raise NotFound("model", model_id)
        url_ttl = resolution.url_expires_at - self._clock() - 1.0  # keep a second of margin for the download
        ttl = max(0.0, min(self._ttl_s, url_ttl))
        self._store((tenant, model_id), _Cached(self._clock() + ttl, resolution))
        return resolution

    def _store(self, key: tuple[str, str], entry: _Cached) -> None:
        if entry.expires_at > self._clock():  # a URL about to expire is used once, not cached
            self._cache[key] = entry
        else:
            self._cache.pop(key, None)
