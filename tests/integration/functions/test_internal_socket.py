"""The platform's internal UNIX socket under concurrent publishers (issue 10: "broker
unreachable: connection reset" at 8 clients).

Cause: the broker's publisher pooled connections for 5 s and the internal listener (uvicorn's
default) dropped idle ones after 5 s too, so a request sent just as the server's timer fired
went out on a connection being closed, and was reset. Under load the window grew (a GIL-bound
server thread fires its timer late). Now the client drops idle connections first and a lost
connection is retried on a fresh one (publishing is at-least-once: the id is fixed).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from functions.bootstrap import broker_client
from functions.local.dispatcher import Dispatcher
from functions.local.platform import INTERNAL_KEEP_ALIVE_S, serve_internal
from functions.ports import OutEvent
from functions.publishing import KEEPALIVE_EXPIRY_S, HttpPublisher
from functions.settings import Settings

pytestmark = pytest.mark.integration
BROKER = "http://internal/broker/"


def _event(i: int, subject: str) -> OutEvent:
    return OutEvent(type="io.trainyard.job.epoch", source="test", subject=subject, data={"i": i}, id=f"e-{subject}-{i}")


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ty-sock-") as d:  # short: sun_path is 108 bytes
        yield Path(d)


@contextlib.contextmanager
def _publisher(path: Path) -> Iterator[HttpPublisher]:
    settings = Settings(token_secret="s" * 32, broker_url=BROKER, broker_uds=path)
    with broker_client(settings, True) as client:
        yield HttpPublisher(BROKER, client=client)


def test_the_client_always_drops_an_idle_connection_before_the_internal_listener_does() -> None:
    assert KEEPALIVE_EXPIRY_S * 5 <= INTERNAL_KEEP_ALIVE_S


def test_eight_publishers_with_idle_gaps_on_the_real_internal_listener_lose_nothing(sock_dir: Path) -> None:
    delivered: list[str] = []

    def function(request: httpx.Request) -> httpx.Response:
        delivered.append(request.headers["ce-id"])
        return httpx.Response(200)

    dispatcher = Dispatcher(functions_url="http://fn", transport=httpx.MockTransport(function))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await dispatcher.start()
        yield
        await dispatcher.idle()
        await dispatcher.stop()

    app = Starlette(routes=[Mount("/broker", app=dispatcher.app())], lifespan=lifespan)
    path = sock_dir / "internal.sock"
    errors: list[str] = []
    stop = threading.Event()

    def hog() -> None:  # the platform's other threads hold the GIL too
        while not stop.is_set():
            sum(range(10_000))

    with serve_internal(app, path), _publisher(path) as publisher:

        def client(w: int) -> None:
            for i in range(12):
                try:
                    publisher.publish(_event(i, f"j{w}"))
                except Exception as exc:  # every failure is the finding
                    errors.append(repr(exc))
                if i == 5:  # idle across the client's pool expiry, as between bursts
                    time.sleep(KEEPALIVE_EXPIRY_S + random.uniform(-0.05, 0.05))
                else:
                    time.sleep(random.uniform(0, 0.02))

        hogs = [threading.Thread(target=hog) for _ in range(2)]
        clients = [threading.Thread(target=client, args=(w,)) for w in range(8)]
        for t in hogs + clients:
            t.start()
        for t in clients:
            t.join()
        stop.set()
        for t in hogs:
            t.join()
    assert errors == []
    assert len(delivered) == 8 * 12


class _ResetOnReuse:
    """A UNIX-socket HTTP server that answers the first request of a connection and then
    closes it, without reading, when a second one arrives on it: exactly what a server
    whose keep-alive ran out does to a request already on its way (ECONNRESET)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connections = 0
        self.answered = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._answer(reader, writer)
        finally:
            writer.close()  # aborted or not, cancelled at the end or not: no transport left open

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.05)  # the client's body is still unread when we close
        if self.answered and self.connections == 2:
            writer.transport.abort()
            return
        self.answered += 1
        writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readuntil(b"\r\n\r\n")  # the reused connection's request arrives...
            await asyncio.sleep(0.05)
        writer.transport.abort()  # ...and the connection is dropped under it

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(asyncio.start_unix_server(self._serve, path=str(self.path)))
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            yield
        finally:
            asyncio.run_coroutine_threadsafe(self._shutdown(server), loop).result(5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()

    @staticmethod
    async def _shutdown(server: asyncio.Server) -> None:
        """Stop listening and end the handlers still waiting on a kept-alive connection."""
        server.close()
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


def test_a_publish_whose_pooled_connection_is_reset_is_sent_again_on_a_fresh_one(sock_dir: Path) -> None:
    server = _ResetOnReuse(sock_dir / "broker.sock")
    with server.running(), _publisher(server.path) as publisher:
        publisher.publish(_event(1, "j"))
        publisher.publish(_event(2, "j"))  # the pooled connection is reset under it
    assert server.answered == 2
    assert server.connections >= 2


def test_a_broker_that_keeps_resetting_is_a_temporary_error(sock_dir: Path) -> None:
    from sdk.contracts.errors import TemporaryError

    path = sock_dir / "dead.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(8)
    stop = threading.Event()

    def reset_all() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = listener.accept()
                conn.recv(16)  # part of the request read, the rest left unread: the peer is reset
                conn.close()

    thread = threading.Thread(target=reset_all)
    thread.start()
    try:
        with pytest.raises(TemporaryError, match="broker unreachable"), _publisher(path) as publisher:
            publisher.publish(_event(1, "j"))
    finally:
        stop.set()
        thread.join()
        listener.close()
