"""The sidecar's HTTP/1.1 server protocol: uvicorn's httptools protocol plus header and body
read timeouts, which uvicorn does not have (its keep-alive timeout only covers the idle time
between requests).

A connection must deliver a request's line and headers within `header_timeout_s` of its
opening (or of the request's first byte on a kept-alive connection), and the body within
`body_timeout_s` of the headers; otherwise it is answered 408 and closed. So a client that
opens connections and sends half a request (slowloris) holds each for seconds, not forever.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_MESSAGE = b"the request was not sent in time"
_TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_MESSAGE), _MESSAGE)
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout_s = 10.0
    body_timeout_s = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard: asyncio.TimerHandle | None = None
        self.timed_out = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout_s)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._guard = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None

    def _expired(self) -> None:
        self._guard = None
        if self.transport.is_closing():
            return
        self.timed_out = True
        cycle = self.cycle
        mid_request = cycle is not None and not cycle.response_complete
        if not (mid_request and cycle is not None and cycle.response_started):
            self.transport.write(_TIMEOUT_408)  # nothing of a response is on the wire for this request
        self.logger.info("closing a connection: request not received in time")
        self.transport.close()


def guarded_protocol(*, header_timeout_s: float, body_timeout_s: float) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for uvicorn.Config(http=...), with these timeouts."""
    return type(
        "SidecarHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s},
    )
