"""EventPublisher adapters: HTTP to a broker ingress (Knative Broker or the local
dispatcher, same code), and a recording fake for unit tests."""

from __future__ import annotations

import threading
import uuid

import httpx

from functions.ports import OutEvent
from sdk.contracts.errors import TemporaryError


def binary_headers(event: OutEvent) -> dict[str, str]:
    """CloudEvents 1.0 HTTP binary-mode headers for `event`."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event.id or uuid.uuid4().hex,
        "ce-type": event.type,
        "ce-source": event.source,
        "ce-subject": event.subject,
        "content-type": "application/json",
    }
    for name, value in event.extensions.items():
        headers[f"ce-{name}"] = value
    return headers


class HttpPublisher:
    def __init__(self, url: str, *, client: httpx.Client) -> None:
        self._url = url
        self._client = client

    def publish(self, event: OutEvent) -> None:
        try:
            resp = self._client.post(self._url, headers=binary_headers(event), json=event.data)
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
