"""EgressProxy: a sandboxed trainer's only way out, on a UNIX socket per job.

The local runner asks `open(job_id, directory)` before it starts a sandboxed trainer:
the proxy listens on `directory/platform.sock`, which the sandbox binds read-only at
/run/trainyard/platform.sock. The job is the socket a connection arrives on, so a
trainer cannot speak for another job. Each HTTP/1.1 request is judged by EgressPolicy
(functions.local.egress_policy) and either forwarded to the platform or the S3 endpoint,
or answered 403 with the reason. Bodies stream both ways in chunks: a dataset download
or a checkpoint upload never sits whole in memory.

The proxy runs its own event loop on a thread, so it neither depends on nor slows the
platform's; `open` and `close` are safe to call from any other thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import suppress
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import h11
import httpx

from functions.local.egress_policy import EgressPolicy
from functions.local.sandbox import SOCKET_NAME
from sdk.contracts.errors import TemporaryError

log = logging.getLogger(__name__)
T = TypeVar("T")

CHUNK = 64 * 1024
# Per RFC 9110 7.6.1, never forwarded; plus Expect, which the proxy answers itself.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "proxy-connection",
    }
)
_CONTROL_TIMEOUT_S = 10.0
_MAX_ISSUE_BYTES = 64 * 1024  # a pre-signed URL answer is well under 2 KiB


class _ClientGone(Exception):
    """The trainer closed its connection in the middle of a request."""


class EgressProxy:
    """Forwards what EgressPolicy allows from each job's socket; 403 for the rest."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        idle_timeout_s: float = 120.0,
        max_connections_per_job: int = 32,
    ) -> None:
        self._policy = policy
        self._transport = transport
        self._idle_timeout_s = idle_timeout_s  # a connection silent this long between reads is closed
        self._max_connections = max_connections_per_job  # one job cannot exhaust the proxy for the others
        self._timeout = httpx.Timeout(60.0, connect=10.0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None
        self._servers: dict[str, asyncio.Server] = {}
        self._connections: dict[str, dict[asyncio.Task[None], asyncio.StreamWriter]] = {}

    # -- lifecycle (any thread) -------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="trainyard-egress", daemon=True)
        self._thread.start()
        self._call(self._setup())

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._call(self._shutdown())
        finally:
            # Whatever the shutdown did, the loop ends and is closed: nothing leaks past stop().
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=_CONTROL_TIMEOUT_S)
            if not thread.is_alive():
                _finish(loop)
            self._loop = self._thread = None

    def __enter__(self) -> EgressProxy:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def open(self, job_id: str, directory: Path) -> None:
        """Listen for `job_id`'s trainer at directory/platform.sock (replacing a stale one)."""
        try:
            sock = _listen(directory)
        except OSError as exc:
            raise TemporaryError(f"cannot open the egress socket in {directory}: {exc}") from exc
        try:
            self._call(self._serve(job_id, sock))
        except BaseException:
            sock.close()
            raise

    def close(self, job_id: str) -> None:
        """Stop listening for `job_id` and cut its open connections."""
        if self._loop is not None:
            self._call(self._close(job_id))

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            work.close()
            raise TemporaryError("the egress proxy is not running")
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=_CONTROL_TIMEOUT_S)

    # -- on the proxy's loop ----------------------------------------------------------------

    async def _setup(self) -> None:
        # trust_env=False: never route through an HTTP(S)_PROXY from the platform's environment.
        self._client = httpx.AsyncClient(
            transport=self._transport, trust_env=False, follow_redirects=False, timeout=self._timeout
        )

    async def _shutdown(self) -> None:
        for job_id in list(self._servers):
            await self._close(job_id)
        if self._client is not None:
            await self._client.aclose()

    async def _serve(self, job_id: str, sock: socket.socket) -> None:
        await self._close(job_id)
        self._servers[job_id] = await asyncio.start_unix_server(partial(self._connection, job_id), sock=sock)

    async def _close(self, job_id: str) -> None:
        server = self._servers.pop(job_id, None)
        if server is not None:
            server.close()
        self._policy.forget(job_id)
        live = self._connections.pop(job_id, {})
        for task, writer in live.items():
            writer.transport.abort()  # a pending read ends even if the cancel below comes too late for it
            task.cancel()
        await asyncio.gather(*live, return_exceptions=True)  # gone before a shutdown stops the loop

    async def _connection(self, job_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if job_id not in self._servers:  # accepted just as close() ran: nobody would cut it later
            writer.close()
            return
        live = self._connections.setdefault(job_id, {})
        if len(live) >= self._max_connections:
            writer.close()
            return
        live[task] = writer
        try:
            await self._exchanges(job_id, _Peer(reader, writer, self._idle_timeout_s))
        except (_ClientGone, h11.ProtocolError, ConnectionError, TimeoutError, httpx.HTTPError):
            pass  # a side went away mid-message, or the trainer spoke nonsense: only closing is left
        except asyncio.CancelledError:
            pass  # cut by close(): end quietly (3.11's stream callback chokes on a cancelled task)
        except Exception:
            log.exception("egress connection failed", extra={"job_id": job_id})
        finally:
            live.pop(task, None)
            writer.close()

    async def _exchanges(self, job_id: str, peer: _Peer) -> None:
        """Serve requests on one connection until either side closes it."""
        while True:
            event = await peer.next_event()
            if not isinstance(event, h11.Request):
                return
            await self._exchange(job_id, peer, event)
            if peer.conn.our_state is not h11.DONE or peer.conn.their_state is not h11.DONE:
                return
            peer.conn.start_next_cycle()

    async def _exchange(self, job_id: str, peer: _Peer, request: h11.Request) -> None:
        method, target = request.method.decode(), request.target.decode("ascii", errors="replace")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        decision = self._policy.decide(job_id=job_id, method=method, target=target, headers=headers)
        if decision.upstream is None:
            log.warning(
                "egress denied",
                extra={"job_id": job_id, "method": method, "path": target.partition("?")[0], "reason": decision.reason},
            )
            await peer.respond(403, _problem("forbidden", f"egress denied: {decision.reason}"))
            return
        assert self._client is not None
        if peer.conn.they_are_waiting_for_100_continue:
            await peer.send(h11.InformationalResponse(status_code=100, headers=[]))
        has_body = _has_body(headers)
        outgoing = httpx.Request(
            method,
            decision.upstream.base + target,
            headers=_forwarded(headers),
            content=peer.body() if has_body else None,
            extensions={"timeout": self._timeout.as_dict()},
        )
        if not has_body:
            await peer.next_event()  # the request's EndOfMessage, already buffered
        try:
            response = await self._client.send(outgoing, stream=True)
        except httpx.TimeoutException:
            await peer.respond(504, _problem("unavailable", "upstream timed out"))
            return
        except httpx.TransportError as exc:
            await peer.respond(502, _problem("unavailable", f"upstream unreachable: {exc}"))
            return
        try:
            body = None if decision.issues is None else await self._record_issued(job_id, decision.issues, response)
            await peer.relay(response, body=body)
        finally:
            await response.aclose()

    async def _record_issued(self, job_id: str, method: str, response: httpx.Response) -> bytes:
        """Read the platform's (small JSON) answer, let the job use the URL it carries, and
        return the raw bytes for the relay."""
        body = response.content if response.is_stream_consumed else b""  # read already: in-memory transports
        if not response.is_stream_consumed:
            async for chunk in response.aiter_raw(CHUNK):
                body += chunk
                if len(body) > _MAX_ISSUE_BYTES:
                    raise _ClientGone()  # the platform never answers this much: give up the connection
        if response.status_code != 200 or response.headers.get("content-encoding", "identity") != "identity":
            return body
        try:
            url = str(json.loads(body)["url"])
        except (ValueError, KeyError, TypeError):
            return body
        if not self._policy.issue(job_id, method=method, url=url):
            log.warning("platform issued a URL the proxy cannot allow", extra={"job_id": job_id, "method": method})
        return body


class _Peer:
    """One trainer connection: h11's state machine over asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, idle_timeout_s: float) -> None:
        self.conn = h11.Connection(h11.SERVER)
        self._reader = reader
        self._writer = writer
        self._idle_timeout_s = idle_timeout_s

    async def next_event(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            async with asyncio.timeout(self._idle_timeout_s):  # not wait_for: on 3.11 it can swallow a cancel
                data = await self._reader.read(CHUNK)
            self.conn.receive_data(data)

    async def body(self) -> AsyncIterator[bytes]:
        """The request body as it arrives; httpx pulls it, so the trainer is paced by the upstream."""
        while True:
            event = await self.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            else:
                raise _ClientGone()

    async def send(self, event: Any) -> None:
        data = self.conn.send(event)
        if data:
            self._writer.write(data)
            await self._writer.drain()

    async def respond(self, status: int, body: bytes) -> None:
        """A whole small response; closes the connection (the request body may be unread)."""
        headers = [("content-type", "application/json"), ("content-length", str(len(body))), ("connection", "close")]
        await self.send(h11.Response(status_code=status, headers=headers))
        await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())

    async def relay(self, response: httpx.Response, *, body: bytes | None = None) -> None:
        headers = [(k, v) for k, v in response.headers.raw if k.decode("latin-1").lower() not in _HOP_BY_HOP]
        await self.send(
            h11.Response(
                status_code=response.status_code,
                headers=headers,
                reason=response.reason_phrase.encode("latin-1", errors="replace"),
            )
        )
        if body is not None:  # read already: an answer carrying an issued URL
            await self.send(h11.Data(data=body))
        elif response.is_stream_consumed:  # read already by an in-memory transport (tests)
            await self.send(h11.Data(data=response.content))
        else:
            async for chunk in response.aiter_raw(CHUNK):  # raw: the bytes and Content-Length stay S3's
                await self.send(h11.Data(data=chunk))
        await self.send(h11.EndOfMessage())


def _listen(directory: Path) -> socket.socket:
    """A listening socket at directory/platform.sock, however long the directory's path.

    sun_path holds 108 bytes; binding through /proc/self/fd/N keeps the name short.
    """
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    try:
        name = f"/proc/self/fd/{fd}/{SOCKET_NAME}"
        with suppress(FileNotFoundError):
            os.unlink(name)  # left by a previous platform process
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(name)
            os.chmod(name, 0o600)  # the trainer runs as the platform's user
            sock.listen(64)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock
    finally:
        os.close(fd)


def _has_body(headers: list[tuple[str, str]]) -> bool:
    for name, value in headers:
        lowered = name.lower()
        if lowered == "transfer-encoding" or (lowered == "content-length" and value.strip() != "0"):
            return True
    return False


def _forwarded(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    listed = {
        token.strip().lower() for name, value in headers if name.lower() == "connection" for token in value.split(",")
    }  # Connection may name more hop-by-hop headers
    return [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP and k.lower() not in listed]


def _problem(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def _finish(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still pending on a stopped loop, let it unwind, and close the loop."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
