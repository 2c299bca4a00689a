"""The event-type -> function routing table: declared once, here.

The local dispatcher reads it to deliver events; `knative/` Triggers are generated
from it (a test fails when the checked-in YAML and this table disagree).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sdk.contracts.events import EventType

# function name -> the event types it consumes
ROUTES: Mapping[str, frozenset[EventType]] = MappingProxyType(
    {
        "create": frozenset({EventType.TASK_REQUESTED}),
        "launch": frozenset({EventType.JOB_CREATED}),
        "report": frozenset(
            {
                EventType.JOB_RUNNING,
                EventType.JOB_EPOCH,
                EventType.JOB_CHECKPOINT,
                EventType.JOB_METADATA,
                EventType.JOB_SUCCEEDED,
                EventType.JOB_FAILED,
                EventType.JOB_REPORTS,
            }
        ),
        "cleanup": frozenset({EventType.JOB_FINISHED}),
        "sweep": frozenset({EventType.PING}),
    }
)


def subscribers(event_type: str) -> list[str]:
    """Functions that receive `event_type`, in a stable order."""
    return sorted(name for name, types in ROUTES.items() if event_type in types)


# How a function answers a delivery, and what the broker does (Knative Eventing's rules, which
# the local dispatcher follows too): 2xx acknowledged; REDELIVER with Retry-After: redelivered
# after at least that many seconds; other 5xx, 404 (not ready), 409 and 429: redelivered with
# backoff; any other 4xx refused for good (to the dead letters). functions.handlers answers by
# these, from the error's retry intent; the dispatcher reads them here.
REDELIVER = 503
_REDELIVERED_4XX = frozenset({404, 409, 429})


def retry_after(delay_s: float) -> str:
    """A Retry-After value (whole seconds, never negative) for a wish to be retried after delay_s."""
    return str(max(0, int(delay_s)))


def redelivered(status: int) -> bool:
    """Whether the broker delivers again after this answer to a delivery."""
    return status >= 500 or status in _REDELIVERED_4XX


def min_delay_s(headers: Mapping[str, str]) -> float:
    """The least wait before the next delivery a function asked for (Retry-After), else 0."""
    try:
        return max(0.0, float(headers.get("retry-after", "0")))
    except ValueError:
        return 0.0
