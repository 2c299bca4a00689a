"""The egress channel: EgressPolicy's rules (pure) and EgressProxy over a real UNIX socket.

The proxy's upstream is an httpx.MockTransport here; tests/integration/sandbox runs it
against a real platform stand-in and moto, from inside a real sandbox.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from functions.local.egress import EgressProxy
from functions.local.egress_policy import EgressPolicy, Upstream
from sdk import http
from sdk.contracts.errors import Forbidden

PLATFORM = "http://127.0.0.1:8080"
S3 = "http://127.0.0.1:9000"
KEY, SECRET = "AKIDLOCAL", "local-secret"
WAIT_S = 5.0


@pytest.fixture(scope="module")
def s3() -> Any:
    """Signs URLs offline, as the platform's presign client does (SigV4)."""
    return boto3.client(
        "s3",
        endpoint_url=S3,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4"),
    )


def presign(
    s3: Any,
    method: str = "get_object",
    key: str = "datasets/reviews.csv",
    expires: int = 300,
    *,
    issue_to: EgressPolicy | None = None,
    job_id: str = "j-1",
) -> str:
    """A SigV4 URL; with `issue_to`, recorded there as issued to `job_id` (what the proxy does
    when the platform hands the job a URL)."""
    url = str(s3.generate_presigned_url(method, Params={"Bucket": "data", "Key": key}, ExpiresIn=expires))
    if issue_to is not None:
        assert issue_to.issue(job_id, method={"get_object": "GET", "put_object": "PUT"}[method], url=url)
    return url


def decide(policy: EgressPolicy, method: str, url: str, *, host: str | None = None, job_id: str = "j-1") -> str:
    """'' if allowed, else the reason; the request as the SDK's httpx would send it."""
    request = httpx.Request(method, url)
    headers = [(k.decode(), v.decode()) for k, v in request.headers.raw if k.lower() != b"host"]
    headers.append(("Host", host if host is not None else request.headers["host"]))
    decision = policy.decide(job_id=job_id, method=method, target=request.url.raw_path.decode(), headers=headers)
    return "" if decision.allowed else decision.reason


@pytest.fixture
def policy() -> EgressPolicy:
    return EgressPolicy(platform_url=PLATFORM, s3_endpoint=S3, credentials={KEY: SECRET})


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/events"), ("GET", "/v1/jobs/j-1/datasets/reviews"), ("GET", "/v1/jobs/j-1/datasets/a.b_c-2"),
    ("POST", "/v1/jobs/j-1/artifacts"),
])  # fmt: skip
def test_the_trainer_endpoints_of_its_own_job_are_allowed(policy: EgressPolicy, method: str, path: str) -> None:
    assert decide(policy, method, PLATFORM + path) == ""


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/jobs/j-2/datasets/reviews"), ("POST", "/v1/jobs/j-2/artifacts"), ("GET", "/v1/jobs/j-1"),
    ("GET", "/v1/events"), ("POST", "/v1/events?x=1"), ("GET", "/v1/jobs/j-1/datasets/..%2fsecret"),
    ("GET", "/v1/jobs/j-1/datasets/../../projects"), ("GET", "/v1/jobs/j-1/datasets/.hidden"),
    ("POST", "/v1/projects"), ("GET", "/docs"), ("POST", "/broker/"), ("POST", "/fn/report"),
    ("GET", "/v1/jobs/j-1/datasets/reviews/extra"),
])  # fmt: skip
def test_every_other_platform_request_is_denied(policy: EgressPolicy, method: str, path: str) -> None:
    assert decide(policy, method, PLATFORM + path) != ""


@pytest.mark.parametrize(
    "host",
    ["evil.example", "127.0.0.1", "127.0.0.1:8081", "user@127.0.0.1:8080", "127.0.0.1:9000@evil", "localhost:8080", ""],
)
def test_a_host_that_is_neither_upstream_is_denied(policy: EgressPolicy, host: str) -> None:
    assert decide(policy, "POST", PLATFORM + "/v1/events", host=host) != ""


def test_only_origin_form_requests_with_one_host_are_judged(policy: EgressPolicy) -> None:
    absolute = policy.decide(
        job_id="j-1", method="POST", target="http://evil.example/v1/events", headers=[("Host", "127.0.0.1:8080")]
    )
    twice = policy.decide(
        job_id="j-1", method="POST", target="/v1/events", headers=[("Host", "127.0.0.1:8080"), ("Host", "evil.example")]
    )
    assert not absolute.allowed and not twice.allowed


def test_an_issued_url_is_allowed_for_its_own_method_only(policy: EgressPolicy, s3: Any) -> None:
    get = presign(s3, issue_to=policy)
    put = presign(s3, "put_object", key="jobs/j-1/checkpoints/w b+c(1).pt", issue_to=policy)
    assert decide(policy, "GET", get) == "" and decide(policy, "PUT", put) == ""
    assert "not a pre-signed transfer" in decide(policy, "HEAD", get)
    assert "bad signature" in decide(policy, "PUT", get)


def test_a_validly_signed_url_the_platform_did_not_issue_to_the_job_is_denied(policy: EgressPolicy, s3: Any) -> None:
    """The attack of issue 9: a trainer holding the S3 keys signs its own URLs. Signed with
    the right key, each of these would pass S3 (and moto); none was issued to j-1."""
    issued = presign(s3, issue_to=policy)
    other_tenant = presign(s3, key="other/p-2/reviews.csv")
    assert "not a URL the platform issued" in decide(policy, "GET", other_tenant)
    overwrite = presign(s3, "put_object", key="other/p-2/reviews.csv")
    assert "not a URL the platform issued" in decide(policy, "PUT", overwrite)
    listing = str(s3.generate_presigned_url("list_objects_v2", Params={"Bucket": "data"}, ExpiresIn=300))
    assert "not a URL the platform issued" in decide(policy, "GET", listing)
    assert "not a URL the platform issued" in decide(policy, "GET", issued, job_id="j-2")  # another job's
    assert decide(policy, "GET", issued + "&uploads=") != ""
    copy = httpx.Request(
        "PUT",
        presign(s3, "put_object", key="jobs/j-1/x", issue_to=policy),
        headers={"x-amz-copy-source": "data/other/p-2/reviews.csv"},
    )
    headers = [(k.decode(), v.decode()) for k, v in copy.headers.raw]
    assert (
        "x-amz-copy-source"
        in policy.decide(job_id="j-1", method="PUT", target=copy.url.raw_path.decode(), headers=headers).reason
    )
    admin = str(s3.generate_presigned_url("get_object", Params={"Bucket": "moto-api", "Key": "reset"}))
    assert "not a URL the platform issued" in decide(policy, "GET", admin)
    policy.forget("j-1")
    assert "not a URL the platform issued" in decide(policy, "GET", issued)


def test_only_pre_signed_urls_of_the_s3_endpoint_can_be_issued(policy: EgressPolicy, s3: Any) -> None:
    url = presign(s3)
    assert not policy.issue("j-1", method="GET", url=url.replace(S3, "http://127.0.0.1:9001"))
    assert not policy.issue("j-1", method="DELETE", url=url)
    assert not policy.issue("j-1", method="GET", url=S3 + "/data/datasets/reviews.csv")


def test_unsigned_forged_and_misused_s3_requests_are_denied(policy: EgressPolicy, s3: Any) -> None:
    url = presign(s3, issue_to=policy)
    signature = httpx.URL(url).params["X-Amz-Signature"]
    assert "not a pre-signed" in decide(policy, "GET", S3 + "/data/datasets/reviews.csv")
    assert "bad signature" in decide(policy, "GET", url.replace(signature, "0" * len(signature)))
    assert "bad signature" in decide(policy, "GET", url.replace("reviews.csv", "other-tenant.csv"))
    assert "bad signature" in decide(policy, "PUT", url)  # a GET signature does not sign a PUT
    assert "pre-signed transfer" in decide(policy, "POST", url)
    assert decide(policy, "GET", url + "&X-Amz-Signature=" + signature) != ""  # twice: ambiguous
    stranger = boto3.client(
        "s3",
        endpoint_url=S3,
        region_name="us-east-1",
        aws_access_key_id="OTHER",
        aws_secret_access_key="x",
        config=Config(signature_version="s3v4"),
    )
    assert "unknown access key" in decide(policy, "GET", presign(stranger))
    v2 = boto3.client(
        "s3",
        endpoint_url=S3,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3"),
    )
    assert "not a pre-signed" in decide(policy, "GET", presign(v2))


def test_an_expired_url_is_denied(s3: Any) -> None:
    later = EgressPolicy(
        platform_url=PLATFORM,
        s3_endpoint=S3,
        credentials={KEY: SECRET},
        clock=lambda: datetime.now(UTC) + timedelta(seconds=301),
    )
    assert "expired" in decide(later, "GET", presign(s3, expires=300, issue_to=later))
    unchecked = EgressPolicy(
        platform_url=PLATFORM, s3_endpoint=S3, clock=lambda: datetime.now(UTC) + timedelta(seconds=301)
    )
    assert "expired" in decide(unchecked, "GET", presign(s3, expires=300, issue_to=unchecked))


def test_without_credentials_s3_checks_the_signature_and_the_proxy_what_was_issued(s3: Any) -> None:
    trusting = EgressPolicy(platform_url=PLATFORM, s3_endpoint=S3)
    url = presign(s3, issue_to=trusting)
    assert decide(trusting, "GET", url) == ""
    assert "not a URL the platform issued" in decide(trusting, "GET", url.replace("Signature=", "Signature=0"))
    assert decide(trusting, "GET", S3 + "/data/datasets/reviews.csv") != ""


def test_upstreams_compare_by_origin_with_default_ports() -> None:
    s3 = Upstream.parse("https://S3.Example.com")
    assert s3 == Upstream("https", "s3.example.com", 443)
    assert s3.serves("s3.example.com") and s3.serves("s3.example.com:443") and not s3.serves("s3.example.com:80")
    with pytest.raises(ValueError):
        EgressPolicy(platform_url="http://h:80", s3_endpoint="http://h")


# -- the proxy ------------------------------------------------------------------------------


@dataclass
class FakeUpstream(httpx.AsyncBaseTransport):
    """The proxy's upstream: records what reaches it; answers 202 or `reply`.

    Not an httpx.MockTransport: that one reads the whole request body before its handler runs.
    """

    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    reply: httpx.Response | None = None  # for the next request only
    fail: bool = False
    handler: Callable[[httpx.Request], Awaitable[httpx.Response]] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.fail:
            raise httpx.ConnectError("connection refused", request=request)
        if self.handler is not None:
            return await self.handler(request)
        body = await request.aread()
        self.seen.append((request.method, str(request.url), dict(request.headers), body))
        reply, self.reply = self.reply, None
        return reply if reply is not None else httpx.Response(202, json={"ok": True})


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
def proxy(policy: EgressPolicy, upstream: FakeUpstream) -> Iterator[EgressProxy]:
    with EgressProxy(policy, transport=upstream) as proxy:
        yield proxy


@pytest.fixture
def sock(proxy: EgressProxy, tmp_path: Path) -> str:
    proxy.open("j-1", tmp_path)
    return str(tmp_path / "platform.sock")


def client(sock: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=sock), timeout=WAIT_S)


def test_an_allowed_platform_call_is_forwarded_whole(sock: str, upstream: FakeUpstream) -> None:
    upstream.reply = httpx.Response(201, headers={"X-Upstream": "yes"}, json={"url": "u"})
    with client(sock) as c:
        response = c.post(
            PLATFORM + "/v1/jobs/j-1/artifacts",
            json={"name": "w.pt"},
            headers={"Authorization": "Bearer job-token", "Connection": "keep-alive, X-Drop", "X-Drop": "hop"},
        )
        again = c.post(PLATFORM + "/v1/events", content=b"{}")  # the same connection, kept alive

    assert (response.status_code, response.headers["x-upstream"], response.json()) == (201, "yes", {"url": "u"})
    assert again.status_code == 202
    method, url, headers, body = upstream.seen[0]
    assert (method, url, body) == ("POST", PLATFORM + "/v1/jobs/j-1/artifacts", b'{"name":"w.pt"}')
    assert headers["authorization"] == "Bearer job-token" and headers["host"] == "127.0.0.1:8080"
    assert "x-drop" not in headers  # named by Connection: hop-by-hop


def test_what_the_platform_issues_on_one_jobs_socket_opens_that_url_for_that_job_only(
    proxy: EgressProxy, upstream: FakeUpstream, s3: Any, tmp_path: Path
) -> None:
    url = presign(s3, key="acme/p-1/reviews")
    for job in ("j-1", "j-2"):
        (tmp_path / job).mkdir()
        proxy.open(job, tmp_path / job)
    with (
        client(str(tmp_path / "j-1" / "platform.sock")) as mine,
        client(str(tmp_path / "j-2" / "platform.sock")) as other,
    ):
        assert other.get(url).status_code == 403  # before it is issued: nobody
        upstream.reply = httpx.Response(200, json={"name": "reviews", "method": "GET", "url": url})
        grant = mine.get(PLATFORM + "/v1/jobs/j-1/datasets/reviews")
        assert grant.json()["url"] == url  # relayed unchanged
        assert mine.get(url).status_code == 202
        assert other.get(url).status_code == 403
        assert mine.put(url, content=b"x").status_code == 403  # issued for GET
    proxy.close("j-1")
    proxy.open("j-1", tmp_path / "j-1")  # a new channel starts with nothing issued
    with client(str(tmp_path / "j-1" / "platform.sock")) as mine:
        assert mine.get(url).status_code == 403


def test_a_denied_request_gets_403_with_the_reason_and_never_leaves(sock: str, upstream: FakeUpstream) -> None:
    with client(sock) as c:
        other_job = c.get(PLATFORM + "/v1/jobs/j-2/datasets/reviews")
        unsigned = c.get(S3 + "/data/datasets/reviews.csv")
        elsewhere = c.get("http://8.8.8.8/")

    for response in (other_job, unsigned, elsewhere):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert "not a trainer endpoint of job j-1" in other_job.json()["error"]["message"]
    assert upstream.seen == []


def test_the_sdk_sees_a_denial_as_forbidden(sock: str, tmp_path: Path) -> None:
    with http.blob_client(uds=sock) as blobs, pytest.raises(Forbidden, match="egress denied"):
        http.get_file(blobs, S3 + "/data/x", tmp_path / "x", backoff=http.Backoff(attempts=1), sleep=lambda _: None)


def test_an_unreachable_upstream_is_a_502(sock: str, upstream: FakeUpstream) -> None:
    upstream.fail = True
    with client(sock) as c:
        assert c.post(PLATFORM + "/v1/events", content=b"{}").status_code == 502


def test_downloads_stream_through_without_waiting_for_the_whole_body(
    sock: str, upstream: FakeUpstream, s3: Any, policy: EgressPolicy
) -> None:
    first_read = threading.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 100_000
        # Only a proxy that passed the first part on lets the client read it and set this.
        assert await _wait(first_read), "the proxy held the first chunk back"
        yield b"b" * 100_000

    upstream.reply = httpx.Response(200, headers={"Content-Length": "200000"}, content=body())
    with client(sock) as c, c.stream("GET", presign(s3, issue_to=policy)) as response:
        chunks = response.iter_raw()
        received = next(chunks)
        first_read.set()
        received += b"".join(chunks)

    assert received == b"a" * 100_000 + b"b" * 100_000


def test_uploads_stream_through_with_their_length(
    sock: str, upstream: FakeUpstream, s3: Any, policy: EgressPolicy
) -> None:
    got_first = threading.Event()
    seen: list[bytes] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        async for chunk in request.stream:
            seen.append(chunk)
            got_first.set()
        upstream.seen.append((request.method, str(request.url), dict(request.headers), b""))
        return httpx.Response(200)

    def parts() -> Iterator[bytes]:
        yield b"x" * 70_000
        assert got_first.wait(WAIT_S), "the proxy waited for the whole body"
        yield b"y" * 70_000

    upstream.handler = handle
    with client(sock) as c:
        response = c.put(
            presign(s3, "put_object", issue_to=policy), content=parts(), headers={"Content-Length": "140000"}
        )

    assert response.status_code == 200
    assert b"".join(seen) == b"x" * 70_000 + b"y" * 70_000
    headers = upstream.seen[0][2]
    assert headers["content-length"] == "140000" and "transfer-encoding" not in headers


def test_https_urls_go_through_the_socket_and_on_to_an_https_endpoint(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"data")

    secure = boto3.client(
        "s3",
        endpoint_url="https://s3.example.com",
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4"),
    )
    policy = EgressPolicy(platform_url=PLATFORM, s3_endpoint="https://s3.example.com", credentials={KEY: SECRET})
    with EgressProxy(policy, transport=httpx.MockTransport(handle)) as proxy:
        proxy.open("j-1", tmp_path)
        with http.blob_client(uds=str(tmp_path / "platform.sock")) as blobs:
            http.get_file(
                blobs, presign(secure, issue_to=policy), tmp_path / "out", backoff=http.Backoff(), sleep=lambda _: None
            )

    assert (tmp_path / "out").read_bytes() == b"data"
    assert seen[0].url.scheme == "https" and seen[0].headers["host"] == "s3.example.com"


def test_a_long_directory_path_still_gets_its_socket(proxy: EgressProxy, tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    proxy.open("j-1", deep)
    fd = os.open(deep, os.O_PATH | os.O_DIRECTORY)
    try:
        with client(f"/proc/self/fd/{fd}/platform.sock") as c:
            assert c.post(PLATFORM + "/v1/events", content=b"{}").status_code == 202
    finally:
        os.close(fd)


def test_a_closed_job_is_no_longer_served_and_reopening_replaces_the_socket(
    proxy: EgressProxy, sock: str, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_UNIX) as pending:
        pending.settimeout(WAIT_S)
        pending.connect(sock)
        pending.sendall(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 0\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):  # one whole exchange: the proxy holds this connection now
            answer += pending.recv(1000)
        pending.sendall(b"POST /v1/ev")  # half the next request

        proxy.close("j-1")

        assert pending.recv(100) == b""  # cut
    with socket.socket(socket.AF_UNIX) as raw, pytest.raises(ConnectionRefusedError):
        raw.connect(sock)

    proxy.open("j-1", tmp_path)  # as after a platform restart: the stale socket file is replaced
    with client(sock) as c:
        assert c.post(PLATFORM + "/v1/events", content=b"{}").status_code == 202


def test_one_job_cannot_hold_more_than_its_share_of_connections(
    policy: EgressPolicy, upstream: FakeUpstream, tmp_path: Path
) -> None:
    with EgressProxy(policy, transport=upstream, max_connections_per_job=1) as proxy:
        proxy.open("j-1", tmp_path)
        with client(str(tmp_path / "platform.sock")) as first, client(str(tmp_path / "platform.sock")) as second:
            assert first.post(PLATFORM + "/v1/events", content=b"{}").status_code == 202  # and kept open
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):  # closed unanswered
                second.post(PLATFORM + "/v1/events", content=b"{}")


def test_the_job_is_the_socket_not_what_the_request_says(proxy: EgressProxy, tmp_path: Path) -> None:
    (tmp_path / "j-2").mkdir()
    proxy.open("j-2", tmp_path / "j-2")
    with client(str(tmp_path / "j-2" / "platform.sock")) as c:
        assert c.get(PLATFORM + "/v1/jobs/j-1/datasets/reviews").status_code == 403
        assert json.loads(c.get(PLATFORM + "/v1/jobs/j-2/datasets/reviews").content) == {"ok": True}


async def _wait(event: threading.Event) -> bool:
    return await asyncio.to_thread(event.wait, WAIT_S)
