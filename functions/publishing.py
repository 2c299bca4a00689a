"""EventPublisher adapters: HTTP to a broker ingress (Knative Broker or the local
dispatcher, same code), and a recording fake for unit tests."""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid

import httpx
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from functions import eventauth
from functions.ports import OutEvent
from sdk.contracts import tracing
from sdk.contracts.errors import TemporaryError

log = logging.getLogger("trainyard.publishing")


def to_cloudevent(event: OutEvent) -> CloudEvent:
    """`event` as a CloudEvent 1.0 (JSON data), the one way the platform builds an envelope."""
    attributes = {
        "id": event.id or uuid.uuid4().hex,
        "type": event.type,
        "source": event.source,
        "subject": event.subject,
        "datacontenttype": "application/json",
        # a new span of the trace being handled (or a new trace): see sdk.contracts.tracing
        tracing.EXTENSION: tracing.child(tracing.current()),
        **event.extensions,
    }
    return CloudEvent(attributes, event.data)


def binary_request(event: OutEvent) -> tuple[dict[str, str], bytes]:
    """The headers and body of `event` in HTTP binary mode (what a Knative broker ingress takes)."""
    headers, body = to_binary(to_cloudevent(event))
    return dict(headers), body


def signed(event: OutEvent, key: bytes | None) -> OutEvent:
    """`event` with its id fixed and, when there is a key, the platform's signature
    (functions.eventauth) among its extensions."""
    fixed = dataclasses.replace(event, id=event.id or uuid.uuid4().hex)
    if key is None:
        return fixed
    attributes = {
        "id": fixed.id,
        "type": fixed.type,
        "source": fixed.source,
        "subject": fixed.subject,
        eventauth.TENANT_EXTENSION: fixed.extensions.get(eventauth.TENANT_EXTENSION),
    }
    signature = eventauth.signature(key, attributes, fixed.data)
    return dataclasses.replace(fixed, extensions={**fixed.extensions, eventauth.SIGNATURE_EXTENSION: signature})


def signed_request(event: OutEvent, key: bytes | None) -> tuple[dict[str, str], bytes]:
    """binary_request of the `signed` event."""
    return binary_request(signed(event, key))


# A pooled connection's server may close it just as a request goes out on it (its keep-alive
# ran out): the request then fails with a reset, though the broker never saw it. Publishing
# is at-least-once (the event's id is fixed; every handler dedupes on it), so such a failure
# is tried again, on a fresh connection, this many times before the caller hears of it.
TRANSPORT_RETRIES = 2
# Idle pooled connections are dropped after this long, well before a broker ingress's own
# keep-alive (local mode's internal listener keeps them 30 s; uvicorn's default is 5 s).
KEEPALIVE_EXPIRY_S = 2.0


class HttpPublisher:
    """`key`: the platform's event key; every published event is signed with it."""

    def __init__(self, url: str, *, client: httpx.Client, key: bytes | None = None) -> None:
        self._url = url
        self._client = client
        self._key = key

    def publish(self, event: OutEvent) -> None:
        headers, body = signed_request(event, self._key)
        for attempt in range(TRANSPORT_RETRIES + 1):
            try:
                resp = self._client.post(self._url, headers=headers, content=body)
                break
            except httpx.TransportError as exc:
                if attempt == TRANSPORT_RETRIES:
                    raise TemporaryError(f"broker unreachable at {self._url}: {exc}") from exc
                log.info("broker connection lost, sending again", extra={"event_id": event.id, "error": repr(exc)})
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
