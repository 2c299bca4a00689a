"""Production verification: RS256/ES256 tokens checked against a JWKS (RFC 7517).

Keys come from a file (mounted from a Secret or ConfigMap) or a URL (the identity
provider's jwks_uri), read when first needed, never at import. Rotation is by `kid`: a
token naming a key we do not hold triggers one reload (a URL is refetched at most every
`min_refresh_s`, so a flood of made-up kids cannot make us hammer the provider; a file is
re-read when it changed). A URL's keys are also refetched once `ttl_s` old, so retired keys
stop verifying; if the provider is down then, the keys held are kept, and only while we
hold none is a token refused with 503 (we cannot tell) rather than 401.

Key confusion is shut out twice: only asymmetric algorithms are accepted (a token saying
HS256 is refused before any key is looked at, so a public key can never serve as an HMAC
secret), and each key verifies only with its own algorithm (pyjwt binds a PyJWK to one).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt

from sdk.auth import tokens
from sdk.auth.tokens import DEFAULT_LEEWAY_S, Claims
from sdk.contracts.errors import TemporaryError, Unauthenticated

log = logging.getLogger(__name__)

ASYMMETRIC = ("ES256", "RS256")  # what a JWKS may verify: nothing symmetric, nothing unsigned
Fetch = Callable[[str], Any]  # URL -> its parsed JSON body


class KeySource(Protocol):
    def key(self, kid: str) -> jwt.PyJWK:
        """The verification key named `kid`; Unauthenticated if there is none, TemporaryError
        if the key set cannot be had right now."""
        ...


def usable_keys(document: Any, *, algorithms: Collection[str]) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document by kid, only those of an accepted algorithm."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue  # a key we cannot use cannot have signed anything we accept
        if key.algorithm_name in algorithms:
            keys.setdefault(entry["kid"], key)
    return keys


def _unknown(kid: str) -> Unauthenticated:
    return Unauthenticated(f"invalid token: unknown key id {kid!r} (not in the issuer's key set)")


class StaticKeys:
    """A fixed key set (the platform's own public keys)."""

    def __init__(self, keys: Mapping[str, jwt.PyJWK]) -> None:
        self._keys = dict(keys)

    def key(self, kid: str) -> jwt.PyJWK:
        found = self._keys.get(kid)
        if found is None:
            raise _unknown(kid)
        return found


class FileKeys:
    """A JWKS file, read on first use and re-read when a token names an unknown kid and
    the file changed since (a rotated Secret/ConfigMap)."""

    def __init__(self, path: Path, *, algorithms: Collection[str] = ASYMMETRIC) -> None:
        self._path = path
        self._algorithms = tuple(algorithms)
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._stamp: tuple[int, int] | None = None

    def key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            if self._keys is None or (kid not in self._keys and self._changed()):
                self._load()
            assert self._keys is not None
            found = self._keys.get(kid)
        if found is None:
            raise _unknown(kid)
        return found

    def _changed(self) -> bool:
        try:
            return self._stat() != self._stamp
        except OSError:
            return False  # mid-replacement: keep what we hold

    def _stat(self) -> tuple[int, int]:
        st = self._path.stat()
        return st.st_mtime_ns, st.st_size

    def _load(self) -> None:
        try:
            stamp = self._stat()
            keys = usable_keys(json.loads(self._path.read_text()), algorithms=self._algorithms)
        except (OSError, ValueError) as exc:
            if self._keys is not None:
                log.warning("token key file unreadable; keeping the keys held", extra={"path": str(self._path)})
                return
            raise TemporaryError(f"the token key set {self._path} cannot be read: {exc}") from exc
        self._keys, self._stamp = keys, stamp


def fetch_json(url: str, *, timeout_s: float = 5.0) -> Any:
    """GET a JSON document (the default fetch of RemoteKeys); TemporaryError if it fails."""
    try:
        response = httpx.get(url, timeout=timeout_s, headers={"accept": "application/json"})
        response.raise_for_status()
        return response.json()
    except httpx.HTTPError as exc:
        raise TemporaryError(f"GET {url} failed: {exc}") from exc


class RemoteKeys:
    """An identity provider's JWKS URL, fetched on first use, cached `ttl_s`, refetched for
    an unknown kid at most every `min_refresh_s` (also the retry interval of a failed fetch)."""

    def __init__(
        self,
        url: str,
        *,
        algorithms: Collection[str] = ASYMMETRIC,
        fetch: Fetch = fetch_json,
        ttl_s: float = 300.0,
        min_refresh_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._algorithms = tuple(algorithms)
        self._fetch = fetch
        self._ttl_s = ttl_s
        self._min_refresh_s = min_refresh_s
        self._clock = clock
        self._lock = threading.Lock()  # one fetch at a time; the others wait for its keys
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = float("-inf")
        self._tried_at = float("-inf")
        self._error = ""

    def key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            now = self._clock()
            if self._due(now, kid):
                self._refresh(now)
            keys = self._keys
        if keys is None:
            raise TemporaryError(
                f"the token key set at {self._url} cannot be fetched: {self._error}",
                delay_s=max(1.0, self._min_refresh_s),
            )
        found = keys.get(kid)
        if found is None:
            raise _unknown(kid)
        return found

    def _due(self, now: float, kid: str) -> bool:
        if self._keys is not None and kid in self._keys and now - self._fetched_at < self._ttl_s:
            return False  # the warm path: fresh keys, known kid
        return now - self._tried_at >= self._min_refresh_s

    def _refresh(self, now: float) -> None:
        self._tried_at = now
        try:
            keys = usable_keys(self._fetch(self._url), algorithms=self._algorithms)
        except (TemporaryError, ValueError) as exc:
            self._error = str(exc)
            log.warning("token key set fetch failed", extra={"url": self._url, "error": self._error})
            return
        self._keys, self._fetched_at = keys, now


class JWKSVerifier:
    """Tokens of one issuer, signed with one of its JWKS keys (by `kid`) in an asymmetric
    algorithm of the allow-list; issuer, audience, expiry and not-before checked."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        algorithms: Collection[str] = ASYMMETRIC,
        leeway_s: float = DEFAULT_LEEWAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        unsafe = sorted(set(algorithms) - set(ASYMMETRIC))
        if unsafe or not algorithms:
            raise ValueError(f"a JWKS verifies only {', '.join(ASYMMETRIC)}; not {unsafe or 'nothing'}")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._algorithms = tuple(sorted(algorithms))
        self._leeway_s = leeway_s
        self._clock = clock

    def verify(self, token: str) -> Claims:
        return tokens.decode(
            token,
            key_for=self._key_for,
            algorithms=self._algorithms,
            issuer=self._issuer,
            audience=self._audience,
            leeway_s=self._leeway_s,
            now=self._clock(),
        )

    def _key_for(self, header: Mapping[str, Any]) -> jwt.PyJWK:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("invalid token: its header names no key (kid)")
        return self._keys.key(kid)
