"""EgressProxy over a real UNIX socket; its upstream is a recording fake here, and
tests/integration/sandbox runs it against a platform stand-in and moto from inside a sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from functions.local.egress import EgressProxy
from functions.local.egress_policy import EgressPolicy
from sdk import http
from sdk.contracts.errors import Forbidden
from tests.unit.local.conftest import KEY, PLATFORM, S3, SECRET, WAIT_S, presign


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
