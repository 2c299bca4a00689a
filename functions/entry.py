"""functions-framework targets: `FUNCTION_TARGET=<name>` with this file as source (a cluster).

Nothing is built at import: a function's first event builds its dependencies from Settings,
once per loaded module (functions-framework loads this file afresh for each app it creates).
Local mode and tests do not come here: they serve the same handlers, bound to the
dependencies they built, through functions.local.platform.function_apps(deps).
"""

from __future__ import annotations

import functools
import threading

from cloudevents.http import CloudEvent

from functions import bootstrap
from functions.core.deps import Deps
from functions.handlers import DEAD_LETTER, HANDLERS
from functions.settings import Settings

_building = threading.Lock()


def _deps(function: str) -> Deps:
    with _building:  # two first events at once build one set of clients, not two
        return _built(function)


@functools.cache
def _built(function: str) -> Deps:
    return bootstrap.build(Settings(), function=function)  # fields come from TRAINYARD_* variables


def create(event: CloudEvent) -> None:
    HANDLERS["create"](_deps("create"), event)


def launch(event: CloudEvent) -> None:
    HANDLERS["launch"](_deps("launch"), event)


def report(event: CloudEvent) -> None:
    HANDLERS["report"](_deps("report"), event)


def cleanup(event: CloudEvent) -> None:
    HANDLERS["cleanup"](_deps("cleanup"), event)


def sweep(event: CloudEvent) -> None:
    HANDLERS["sweep"](_deps("sweep"), event)


def dead_letter(event: CloudEvent) -> None:
    """The broker's dead-letter sink: keep what could not be delivered, loudly, in the logs.
    It needs no dependencies (no settings, no secret, no AWS): it only logs."""
    DEAD_LETTER(None, event)
