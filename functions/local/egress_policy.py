"""What a sandboxed trainer may ask for through its egress channel. Pure: no I/O.

A request arrives in origin form (`GET /path?query`) with a Host header; the Host picks
the upstream, which is one of exactly two:

- the platform: only what a trainer needs, and only for its own job (the job is the
  socket the request came in on, never something the request says):
  `POST /v1/events`, `GET /v1/jobs/<job>/datasets/<name>`, `POST /v1/jobs/<job>/artifacts`;
- the S3 endpoint: only GET/HEAD/PUT of a pre-signed SigV4 URL (X-Amz-Signature,
  X-Amz-Credential, ... in the query). With `credentials` (local mode: moto accepts any
  signature, so the proxy must check it) the signature and the expiry are verified here,
  as S3 itself would; without (real S3) S3 verifies them.

Everything else is denied, with a reason for the log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import SplitResult, parse_qsl, quote, urlsplit

Clock = Callable[[], datetime]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"  # sdk.contracts.specs.NAME, bounded
_S3_METHODS = frozenset({"GET", "HEAD", "PUT"})
_ALGORITHM = "AWS4-HMAC-SHA256"
_REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
             "X-Amz-Signature")
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
class Decision:
    upstream: Upstream | None  # None: denied
    reason: str  # why denied, or which rule allowed it

    @property
    def allowed(self) -> bool:
        return self.upstream is not None


class EgressPolicy:
    def __init__(self, *, platform_url: str, s3_endpoint: str, credentials: Mapping[str, str] | None = None,
                 clock: Clock | None = None) -> None:
        self.platform = Upstream.parse(platform_url)
        self.s3 = Upstream.parse(s3_endpoint)
        if self.platform == self.s3:
            raise ValueError("the platform and the S3 endpoint must be distinct origins")
        self._credentials = dict(credentials) if credentials is not None else None
        self._clock = clock if clock is not None else (lambda: datetime.now(UTC))

    def decide(self, *, job_id: str, method: str, target: str, headers: Sequence[tuple[str, str]]) -> Decision:
        """May the trainer of `job_id` send this request, and to which upstream?"""
        host = _single(headers, "host")
        if host is None:
            return _deny("no single Host header")
        if not target.startswith("/"):
            return _deny("only origin-form requests (GET /path) are forwarded")
        parts = urlsplit(target)
        if self.s3.serves(host):
            return self._s3(method, parts, headers)
        if self.platform.serves(host):
            return self._platform(job_id, method, parts)
        return _deny(f"host {host!r} is neither the platform nor the S3 endpoint")

    def _platform(self, job_id: str, method: str, parts: SplitResult) -> Decision:
        if parts.query or parts.fragment:
            return _deny("platform requests carry no query")
        job = re.escape(job_id)
        rules = {("POST", r"/v1/events"), ("GET", rf"/v1/jobs/{job}/datasets/{_NAME}"),
                 ("POST", rf"/v1/jobs/{job}/artifacts")}
        if any(method == m and re.fullmatch(p, parts.path) for m, p in rules):
            return Decision(self.platform, "platform")
        return _deny(f"{method} {parts.path} is not a trainer endpoint of job {job_id}")

    def _s3(self, method: str, parts: SplitResult, headers: Sequence[tuple[str, str]]) -> Decision:
        if method not in _S3_METHODS:
            return _deny(f"{method} is not a pre-signed transfer")
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
        return Decision(self.s3, "pre-signed S3")

    def _verify(self, method: str, path: str, params: list[tuple[str, str]], headers: Sequence[tuple[str, str]],
                amz: dict[str, str]) -> str:
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
        if not 0 < expires <= _MAX_EXPIRES_S or now > signed_at + timedelta(seconds=expires) \
                or signed_at > now + _CLOCK_SKEW:
            return "pre-signed URL expired or not yet valid"
        expected = presigned_signature(secret=secret, method=method, path=path, params=params, headers=headers,
                                       signed_headers=amz["X-Amz-SignedHeaders"], amz_date=amz["X-Amz-Date"],
                                       scope=scope)
        if expected is None or not hmac.compare_digest(expected, amz["X-Amz-Signature"]):
            return "bad signature"
        return ""


def presigned_signature(*, secret: str, method: str, path: str, params: Sequence[tuple[str, str]],
                        headers: Sequence[tuple[str, str]], signed_headers: str, amz_date: str,
                        scope: str) -> str | None:
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
    canonical = "\n".join([method, path, "&".join(f"{k}={v}" for k, v in query), "".join(lines),
                           signed_headers, "UNSIGNED-PAYLOAD"])
    to_sign = "\n".join([_ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _single(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in headers if k.lower() == name]
    return values[0] if len(values) == 1 else None


def _deny(reason: str) -> Decision:
    return Decision(None, reason)
