"""Shared HTTP plumbing for the trainer SDK and the user client.

One place maps platform error responses to `sdk.contracts.errors` (the table below), one place
retries (`retrying`: tenacity, bounded exponential backoff with jitter, the server's Retry-After,
the error's retry intent, injectable sleep), and one place moves bytes through pre-signed S3
URLs. httpx exceptions are translated here and nowhere else.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import tenacity

from sdk.auth.tls import TLSFiles, client_context
from sdk.contracts.errors import (
    AlreadyProcessed,
    Conflict,
    Forbidden,
    NotFound,
    PermanentError,
    Problem,
    TemporaryError,
    TrainyardError,
    Unauthenticated,
    ValidationError,
)

Sleep = Callable[[float], None]
T = TypeVar("T")
Progress = Callable[[int], None]  # called with the number of bytes just moved

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
CHUNK = 1 << 20  # 1 MiB: large enough for throughput, small enough for a smooth progress bar
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class Backoff:
    """Bounded exponential backoff: `attempts` tries in all, delays capped at `max_s`, each
    exponential delay plus up to `jitter_s` at random (so clients that failed together do not
    all come back in the same instant).

    The defaults ride out a platform restart of ~30 s without hanging a trainer forever.
    """

    attempts: int = 6
    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 10.0
    jitter_s: float = 0.25

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Backoff.attempts must be at least 1")

    def delay(self, retry: int, *, hint: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (1-based), jitter aside; a server hint
        (Retry-After) wins, capped."""
        if hint is not None:
            return min(max(hint, 0.0), self.max_s)
        return min(self.initial_s * self.factor ** (retry - 1), self.max_s)


class Unavailable(TemporaryError):
    """A 429 or 5xx answer: try again later; `retry_after_s` is the server's Retry-After when it
    sent one (then also `delay_s`), else None and the client's backoff decides."""

    def __init__(self, message: str, *, retry_after_s: float | None) -> None:
        super().__init__(message, delay_s=retry_after_s if retry_after_s is not None else 1.0)
        self.retry_after_s = retry_after_s


def should_retry(exc: BaseException) -> bool:
    """The error's retry intent decides: a TemporaryError (unreachable, 429, 5xx) is tried again.
    A Conflict is retryable too, but by its caller (re-read, then decide again): re-sending the
    very same request cannot change its answer."""
    return isinstance(exc, TrainyardError) and exc.retryable and not isinstance(exc, Conflict)


class _Wait(tenacity.wait.wait_base):
    """The server's Retry-After when the failure carries one, else exponential with jitter."""

    def __init__(self, backoff: Backoff) -> None:
        self._backoff = backoff
        self._exponential = tenacity.wait_exponential_jitter(
            initial=backoff.initial_s, max=backoff.max_s, exp_base=backoff.factor, jitter=backoff.jitter_s
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        failure = retry_state.outcome.exception() if retry_state.outcome is not None else None
        if isinstance(failure, Unavailable) and failure.retry_after_s is not None:
            return self._backoff.delay(retry_state.attempt_number, hint=failure.retry_after_s)
        return float(self._exponential(retry_state))


def retrying(backoff: Backoff, sleep: Sleep, *, attempts: int | None = None) -> tenacity.Retrying:
    """The one retry policy of the SDK: call `retrying(b, sleep)(fn)`; the last error is raised as is."""
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts if attempts is not None else backoff.attempts),
        wait=_Wait(backoff),
        retry=tenacity.retry_if_exception(should_retry),
        sleep=sleep,
        reraise=True,
    )


def _body_error(response: httpx.Response) -> tuple[str, str, list[Problem]]:
    """(code, message, problems) from `{"error": {...}}`, FastAPI's `{"detail": ...}`, or text."""
    try:
        body: Any = response.json()
    except ValueError:
        return "", response.text.strip()[:500] or response.reason_phrase, []
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        problems = [
            Problem(field=str(p.get("field", "")), message=str(p.get("message", "")))
            for p in error.get("problems") or []
            if isinstance(p, dict)
        ]
        return str(error.get("code", "")), str(error.get("message", "")), problems
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI's own request validation
        problems = [
            Problem(field=".".join(str(x) for x in p.get("loc", ())), message=str(p.get("msg", "")))
            for p in detail
            if isinstance(p, dict)
        ]
        return "validation_error", "invalid request", problems
    return "", str(detail or body)[:500], []


def error_from_response(response: httpx.Response) -> TrainyardError:
    """The sdk.contracts.errors value for a non-2xx platform response (the one status table)."""
    code, message, problems = _body_error(response)
    status = response.status_code
    message = message or f"HTTP {status}"
    err: TrainyardError
    if status == 404:
        err = NotFound("resource", response.request.url.path)
        err.args = (message,)  # keep the server's wording, e.g. "job 'j-1' not found"
    elif status == 409:
        err = AlreadyProcessed(message) if code == "already_processed" else Conflict(message)
    elif status == 401:
        err = Unauthenticated(message)
    elif status == 403:
        err = Forbidden(message)
    elif status == 422 and code == "unprocessable":  # the platform's PermanentError
        err = PermanentError(message)
    elif status in (400, 422):
        err = ValidationError(problems or [Problem(field="request", message=message)])
    elif status in RETRY_STATUS:
        err = Unavailable(message, retry_after_s=_retry_after(response))
    else:
        err = PermanentError(f"HTTP {status}: {message}")
    return err


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (an HTTP date, which the platform never sends, counts as absent)."""
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def send(
    client: httpx.Client,
    request: httpx.Request,
    *,
    backoff: Backoff,
    sleep: Sleep,
    retry: bool = True,
) -> httpx.Response:
    """Send `request` (re-sent byte-for-byte on retry); return the 2xx response or raise.

    Retries connection errors, 429 and 5xx when `retry` (see `retrying`); a 4xx raises at once.
    """
    return retrying(backoff, sleep, attempts=None if retry else 1)(send_once, client, request)


def send_once(
    client: httpx.Client, request: httpx.Request, *, to_error: Callable[[httpx.Response], TrainyardError] | None = None
) -> httpx.Response:
    """One try: the 2xx response, or its error (`to_error`, default the platform's table); a
    transport failure is temporary, but a TLS verdict is permanent."""
    try:
        response = client.send(request)
    except httpx.TransportError as exc:
        refusal = _tls_refusal(exc)
        if refusal is not None:  # a certificate problem does not heal by retrying
            raise PermanentError(f"TLS with {request.url.host} failed: {refusal}") from exc
        raise TemporaryError(f"cannot reach {request.url.host}: {exc}{_hint(request, exc)}") from exc
    if not response.is_success:
        raise (to_error or error_from_response)(response)
    return response


def _tls_refusal(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a transport error when it is a verdict (bad or missing certificate,
    unknown CA, an alert from the peer), not a connection cut short (EOF), which may heal."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLError) and not isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _hint(request: httpx.Request, exc: httpx.TransportError) -> str:
    # TLS 1.3: a server refusing our client certificate just hangs up after the handshake.
    if request.url.scheme == "https" and isinstance(exc, httpx.RemoteProtocolError):
        return " (a server that requires mutual TLS also hangs up on a missing or untrusted client certificate)"
    return ""


def platform_client(
    base_url: str,
    token: str,
    *,
    transport: httpx.BaseTransport | None = None,
    uds: str | None = None,
    tls: TLSFiles | None = None,
) -> httpx.Client:
    """An httpx client for the platform API: bearer auth, optional UNIX-socket transport.

    With `tls`, an https platform is verified against their CA and sees their client
    certificate (mutual TLS). Through `uds` (the sandbox's egress proxy, which holds the
    certificate) requests go as plain HTTP, whatever the URL's scheme; a given `transport`
    carries its own TLS settings.

    Example::

        platform_client("https://127.0.0.1:8443", token, tls=TLSFiles.in_dir(Path("tls"), "dev@demo"))
    """
    if transport is None and uds:
        transport = _ThroughSocket(httpx.HTTPTransport(uds=uds))
    if transport is None:
        transport = _Deferred(client_context(tls) if tls is not None else True)
    return httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        transport=transport,
        timeout=DEFAULT_TIMEOUT,
    )


def blob_client(*, transport: httpx.BaseTransport | None = None, uds: str | None = None) -> httpx.Client:
    """An httpx client for pre-signed URLs: never sends the platform token (S3 would reject it).

    With `uds` (a sandboxed trainer's egress socket), every request goes through that socket
    as plain HTTP carrying the URL's Host; the proxy behind it talks to S3, over TLS if the
    endpoint is https.
    """
    if transport is None and uds:  # trust_env=False: a proxy from the environment would bypass the socket
        return httpx.Client(
            transport=_ThroughSocket(httpx.HTTPTransport(uds=uds)), timeout=DEFAULT_TIMEOUT, trust_env=False
        )
    return httpx.Client(transport=transport or _Deferred(True), timeout=DEFAULT_TIMEOUT)


class _Deferred(httpx.BaseTransport):
    """httpx's own transport, made at the first request: for an https URL verifying with
    `verify` (as httpx.Client(verify=...) would), for a plain http one without a TLS context,
    since no TLS is spoken there. Building a TLS context costs ~0.1 s of CPU, and every CLI
    command builds two clients that often talk plain HTTP to a local platform, or not at all."""

    def __init__(self, verify: ssl.SSLContext | bool) -> None:
        self._verify = verify
        self._made: dict[bool, httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        tls = request.url.scheme == "https"
        if tls not in self._made:
            self._made[tls] = httpx.HTTPTransport(verify=self._verify if tls else False)
        return self._made[tls].handle_request(request)

    def close(self) -> None:
        for made in self._made.values():
            made.close()


class _ThroughSocket(httpx.BaseTransport):
    """Sends https URLs as http: TLS would end at the local proxy, which speaks plain HTTP."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            request.url = request.url.copy_with(scheme="http")  # Host, already set, stays the signed one
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def _chunks(path: Path, progress: Progress | None) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
            if progress is not None:
                progress(len(chunk))


def put_file(
    client: httpx.Client,
    url: str,
    path: Path,
    *,
    backoff: Backoff,
    sleep: Sleep,
    progress: Progress | None = None,
    headers: Mapping[str, str] | None = None,
) -> int:
    """Stream a file to a pre-signed PUT URL; return its size in bytes.

    `headers` are those the URL was signed with (e.g. Content-Type), sent verbatim. An
    explicit Content-Length keeps httpx from chunked encoding, which S3 refuses.
    """
    size = path.stat().st_size
    sent = {**(headers or {}), "Content-Length": str(size)}

    def once() -> int:  # a fresh request each try: its body streams the file from the start
        send_once(client, client.build_request("PUT", url, content=_chunks(path, progress), headers=sent))
        return size

    return retrying(backoff, sleep)(once)


def get_file(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    backoff: Backoff,
    sleep: Sleep,
    progress: Progress | None = None,
) -> Path:
    """Stream a pre-signed GET URL to `dest` atomically (a temp file renamed into place)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    retrying(backoff, sleep)(_stream_to, client, url, dest, progress=progress)
    return dest


def _stream_to(client: httpx.Client, url: str, dest: Path, *, progress: Progress | None) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, client.stream("GET", url) as response:
            if not response.is_success:
                response.read()
                raise error_from_response(response)
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))
        os.replace(tmp, dest)
    except httpx.TransportError as exc:
        raise TemporaryError(f"download from {httpx.URL(url).host} broke off: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
