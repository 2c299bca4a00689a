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
            }
        ),
        "cleanup": frozenset({EventType.JOB_FINISHED}),
        "sweep": frozenset({EventType.PING}),
    }
)


def subscribers(event_type: str) -> list[str]:
    """Functions that receive `event_type`, in a stable order."""
    return sorted(name for name, types in ROUTES.items() if event_type in types)
