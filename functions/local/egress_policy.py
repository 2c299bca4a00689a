"""What a sandboxed trainer may ask for through its egress channel. Pure: no I/O.

A request arrives in origin form (`GET /path?query`) with a Host header; the Host picks
the upstream, which is one of exactly two:

- the platform: only what a trainer needs, and only for its own job (the job is the
  socket the request came in on, never something the request says):
  `POST /v1/events`, `GET /v1/jobs/<job>/datasets/<name>`, `POST /v1/jobs/<job>/artifacts`;
- the S3 endpoint: only exactly what the platform issued to this job. The proxy sees the
  platform's answers to the job's own `datasets/<name>` and `artifacts` calls and records
  each issued URL (`issue`): its method, path and query, until its expiry. An S3 request
  passes only if it is one of those URLs, with that method, not expired: no listing, no
  other key or bucket, no admin path, no extra query (`?uploads`, `?acl`), no `x-amz-*`
  header (`x-amz-copy-source` would copy any object into the job's prefix). This holds
  whatever the signature: a trainer that somehow held the platform's S3 keys could sign
  its own URLs and still reach nothing else. With `credentials` (local mode: moto accepts
  any signature) the signature and expiry are verified too, as S3 itself would.

Everything else is denied, with a reason for the log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import SplitResult, parse_qsl, quote, urlsplit

Clock = Callable[[], datetime]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"  # sdk.contracts.specs.NAME, bounded
_S3_METHODS = frozenset({"GET", "PUT"})  # a dataset download, an artifact upload
_MAX_ISSUED = 4096  # per job: a trainer asking for URLs in a loop cannot grow the proxy without bound
_ALGORITHM = "AWS4-HMAC-SHA256"
_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
_MAX_EXPIRES_S = 7 * 86400  # SigV4's own maximum
_CLOCK_SKEW = timedelta(minutes=15)  # what S3 tolerates for a request's date


@dataclass(frozen=True)
class Upstream:
    """An origin: scheme, lower-case host and explicit port."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Upstream:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an http(s) origin: {url!r}")
        return cls(parts.scheme, parts.hostname.lower(), parts.port or _DEFAULT_PORTS[parts.scheme])

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def serves(self, host_header: str) -> bool:
        """Does a Host header name this origin (a missing port meaning the scheme's default)?"""
        parts = urlsplit(f"//{host_header}")
        try:
            port = parts.port or _DEFAULT_PORTS[self.scheme]
        except ValueError:
            return False
        return (parts.hostname or "") == self.host and port == self.port and "@" not in host_header


@dataclass(frozen=True)
class Issued:
    """One pre-signed URL the platform handed to a job: what it allows, until when."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]  # sorted pairs
    expires_at: datetime


@dataclass(frozen=True)
class Decision:
    upstream: Upstream | None  # None: denied
    reason: str  # why denied, or which rule allowed it
    issues: str | None = None  # the platform's answer carries a URL for the job to use with this method

    @property
    def allowed(self) -> bool:
        return self.upstream is not None


class EgressPolicy:
    def __init__(
        self,
        *,
        platform_url: str,
        s3_endpoint: str,
        credentials: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.platform = Upstream.parse(platform_url)
        self.s3 = Upstream.parse(s3_endpoint)
        if self.platform == self.s3:
            raise ValueError("the platform and the S3 endpoint must be distinct origins")
        self._credentials = dict(credentials) if credentials is not None else None
        self._clock = clock if clock is not None else (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._issued: dict[str, list[Issued]] = {}

    def issue(self, job_id: str, *, method: str, url: str) -> bool:
        """Record that the platform issued `url` to `job_id` for `method`; False if it is not
        a pre-signed URL of the S3 endpoint (then it allows nothing)."""
        parts = urlsplit(url)
        try:
            origin = Upstream.parse(url)
        except ValueError:
            return False
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            expires_at = signed_at + timedelta(seconds=int(params["X-Amz-Expires"]))
        except (KeyError, ValueError):
            return False
        if origin != self.s3 or method not in _S3_METHODS:
            return False
        entry = Issued(method, parts.path, _sorted_query(parts.query), expires_at)
        now = self._clock()
        with self._lock:
            live = [e for e in self._issued.get(job_id, []) if e.expires_at > now][-(_MAX_ISSUED - 1) :]
            self._issued[job_id] = [*live, entry]
        return True

    def forget(self, job_id: str) -> None:
        """The job's channel closed: nothing it was issued passes any more."""
        with self._lock:
            self._issued.pop(job_id, None)

    def _was_issued(self, job_id: str, method: str, parts: SplitResult) -> str:
        """'' if this exact request was issued to the job and is not expired, else why not."""
        query, now = _sorted_query(parts.query), self._clock()
        with self._lock:
            issued = list(self._issued.get(job_id, []))
        matches = [e for e in issued if e.path == parts.path and e.query == query]
        if not matches:
            return "not a URL the platform issued to this job"
        if not any(e.method == method for e in matches):
            return f"{method} is not what the platform issued this URL for"
        if all(e.expires_at <= now for e in matches if e.method == method):
            return "the issued URL has expired; ask the platform for a new one"
        return ""

    def decide(self, *, job_id: str, method: str, target: str, headers: Sequence[tuple[str, str]]) -> Decision:
        """May the trainer of `job_id` send this request, and to which upstream?"""
        host = _single(headers, "host")
        if host is None:
            return _deny("no single Host header")
        if not target.startswith("/"):
            return _deny("only origin-form requests (GET /path) are forwarded")
        parts = urlsplit(target)
        if self.s3.serves(host):
            return self._s3(job_id, method, parts, headers)
        if self.platform.serves(host):
            return self._platform(job_id, method, parts)
        return _deny(f"host {host!r} is neither the platform nor the S3 endpoint")

    def _platform(self, job_id: str, method: str, parts: SplitResult) -> Decision:
        if parts.query or parts.fragment:
            return _deny("platform requests carry no query")
        job = re.escape(job_id)
        if method == "POST" and parts.path == "/v1/events":
            return Decision(self.platform, "platform")
        issuing = {
            ("GET", rf"/v1/jobs/{job}/datasets/{_NAME}", "GET"),  # a download of a granted dataset
            ("POST", rf"/v1/jobs/{job}/artifacts", "PUT"),
        }  # an upload under its own prefix
        for m, pattern, issued in issuing:
            if method == m and re.fullmatch(pattern, parts.path):
                return Decision(self.platform, "platform", issues=issued)
        return _deny(f"{method} {parts.path} is not a trainer endpoint of job {job_id}")

    def _s3(self, job_id: str, method: str, parts: SplitResult, headers: Sequence[tuple[str, str]]) -> Decision:
        if method not in _S3_METHODS:
            return _deny(f"{method} is not a pre-signed transfer")
        amz_headers = sorted({k.lower() for k, _ in headers if k.lower().startswith("x-amz-")})
        if amz_headers:
            return _deny(f"S3 request headers {amz_headers} are not allowed (e.g. x-amz-copy-source)")
        params = parse_qsl(parts.query, keep_blank_values=True)
        amz = {k: v for k, v in params if k in _REQUIRED}
        if len(amz) != len(_REQUIRED) or sum(k in _REQUIRED for k, _ in params) != len(_REQUIRED):
            return _deny("not a pre-signed SigV4 URL (X-Amz-Signature, X-Amz-Credential, ... once each)")
        if amz["X-Amz-Algorithm"] != _ALGORITHM or not amz["X-Amz-Credential"].endswith("/s3/aws4_request"):
            return _deny("not an S3 SigV4 signature")
        if self._credentials is not None:
            problem = self._verify(method, parts.path, params, headers, amz)
            if problem:
                return _deny(problem)
        problem = self._was_issued(job_id, method, parts)
        if problem:
            return _deny(problem)
        return Decision(self.s3, "pre-signed S3 URL issued to the job")

    def _verify(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]],
        headers: Sequence[tuple[str, str]],
        amz: dict[str, str],
    ) -> str:
        """'' if the URL is signed by a key we hold and still valid, else the problem."""
        assert self._credentials is not None
        key_id, _, scope = amz["X-Amz-Credential"].partition("/")
        secret = self._credentials.get(key_id)
        if secret is None:
            return "signed with an unknown access key"
        try:
            signed_at = datetime.strptime(amz["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            expires = int(amz["X-Amz-Expires"])
        except ValueError:
            return "malformed X-Amz-Date or X-Amz-Expires"
        now = self._clock()
        if (
            not 0 < expires <= _MAX_EXPIRES_S
            or now > signed_at + timedelta(seconds=expires)
            or signed_at > now + _CLOCK_SKEW
        ):
            return "pre-signed URL expired or not yet valid"
        expected = presigned_signature(
            secret=secret,
            method=method,
            path=path,
            params=params,
            headers=headers,
            signed_headers=amz["X-Amz-SignedHeaders"],
            amz_date=amz["X-Amz-Date"],
            scope=scope,
        )
        if expected is None or not hmac.compare_digest(expected, amz["X-Amz-Signature"]):
            return "bad signature"
        return ""


def presigned_signature(
    *,
    secret: str,
    method: str,
    path: str,
    params: Sequence[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    signed_headers: str,
    amz_date: str,
    scope: str,
) -> str | None:
    """The SigV4 query signature S3 expects for this request; None if a signed header is missing.

    Canonical request as AWS documents it for S3: the path as sent (S3 does not normalise
    it), the query pairs re-encoded and sorted without the signature, the signed headers
    trimmed, and an unsigned payload.
    """
    query = sorted((_encode(k), _encode(v)) for k, v in params if k != "X-Amz-Signature")
    lines = []
    for name in signed_headers.split(";"):
        values = [" ".join(v.split()) for k, v in headers if k.lower() == name]
        if not values:
            return None
        lines.append(f"{name}:{','.join(values)}\n")
    canonical = "\n".join(
        [method, path, "&".join(f"{k}={v}" for k, v in query), "".join(lines), signed_headers, "UNSIGNED-PAYLOAD"]
    )
    to_sign = "\n".join([_ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _sorted_query(query: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(parse_qsl(query, keep_blank_values=True)))


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _single(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in headers if k.lower() == name]
    return values[0] if len(values) == 1 else None


def _deny(reason: str) -> Decision:
    return Decision(None, reason)
