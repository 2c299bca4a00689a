"""functions-framework targets: `FUNCTION_TARGET=<name>` with this file as source.

Nothing is built at import: the first event builds the dependencies from Settings
(once per process), unless the process that serves them installed its own (local mode).
"""

from __future__ import annotations

from cloudevents.http import CloudEvent

from functions import bootstrap
from functions.handlers import DEAD_LETTER, HANDLERS


def create(event: CloudEvent) -> None:
    HANDLERS["create"](bootstrap.deps("create"), event)


def launch(event: CloudEvent) -> None:
    HANDLERS["launch"](bootstrap.deps("launch"), event)


def report(event: CloudEvent) -> None:
    HANDLERS["report"](bootstrap.deps("report"), event)


def cleanup(event: CloudEvent) -> None:
    HANDLERS["cleanup"](bootstrap.deps("cleanup"), event)


def sweep(event: CloudEvent) -> None:
    HANDLERS["sweep"](bootstrap.deps("sweep"), event)


def dead_letter(event: CloudEvent) -> None:
    """The broker's dead-letter sink: keep what could not be delivered, loudly, in the logs.
    It needs no dependencies (no settings, no secret, no AWS): it only logs."""
    DEAD_LETTER(None, event)
