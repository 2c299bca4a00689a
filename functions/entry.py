"""functions-framework targets: `FUNCTION_TARGET=<name>` with this file as source.

Nothing is built at import: the first event builds the dependencies from Settings
(once per process), unless the process that serves them installed its own (local mode).
"""

from __future__ import annotations

from cloudevents.http import CloudEvent

from functions import bootstrap
from functions.handlers import HANDLERS


def create(event: CloudEvent) -> None:
    HANDLERS["create"](bootstrap.deps(), event)


def launch(event: CloudEvent) -> None:
    HANDLERS["launch"](bootstrap.deps(), event)


def report(event: CloudEvent) -> None:
    HANDLERS["report"](bootstrap.deps(), event)


def cleanup(event: CloudEvent) -> None:
    HANDLERS["cleanup"](bootstrap.deps(), event)


def sweep(event: CloudEvent) -> None:
    HANDLERS["sweep"](bootstrap.deps(), event)


def dead_letter(event: CloudEvent) -> None:
    """The broker's dead-letter sink: keep what could not be delivered, loudly, in the logs."""
    HANDLERS["dead_letter"](bootstrap.deps(), event)
