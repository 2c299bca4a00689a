"""EventPublisher adapters: HTTP to a broker ingress (Knative Broker or the local
dispatcher, same code), and a recording fake for unit tests."""

from __future__ import annotations

import threading
import uuid

import httpx
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from functions.ports import OutEvent
from sdk.contracts import tracing
from sdk.contracts.errors import TemporaryError


def to_cloudevent(event: OutEvent) -> CloudEvent:
    """`event` as a CloudEvent 1.0 (JSON data), the one way the platform builds an envelope."""
    attributes = {"id": event.id or uuid.uuid4().hex, "type": event.type, "source": event.source,
                  "subject": event.subject, "datacontenttype": "application/json",
                  # a new span of the trace being handled (or a new trace): see sdk.contracts.tracing
                  tracing.EXTENSION: tracing.child(tracing.current()), **event.extensions}
    return CloudEvent(attributes, event.data)


def binary_request(event: OutEvent) -> tuple[dict[str, str], bytes]:
    """The headers and body of `event` in HTTP binary mode (what a Knative broker ingress takes)."""
    headers, body = to_binary(to_cloudevent(event))
    return dict(headers), body


class HttpPublisher:
    def __init__(self, url: str, *, client: httpx.Client) -> None:
        self._url = url
        self._client = client

    def publish(self, event: OutEvent) -> None:
        try:
            headers, body = binary_request(event)
            resp = self._client.post(self._url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            raise TemporaryError(f"broker unreachable at {self._url}: {exc}") from exc
        if resp.status_code >= 300:
            # Whatever the broker's reason, the sender's event is fine: it may try again.
            raise TemporaryError(f"broker refused event {event.type}: {resp.status_code} {resp.text[:200]}")


class RecordingPublisher:
    """Keeps what was published, in order (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[OutEvent] = []

    def publish(self, event: OutEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of_type(self, type_: str) -> list[OutEvent]:
        with self._lock:
            return [e for e in self.events if e.type == type_]

    def drain(self) -> list[OutEvent]:
        with self._lock:
            out, self.events = self.events, []
            return out
