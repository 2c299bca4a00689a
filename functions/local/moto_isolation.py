"""Local mode only: make an in-process moto server honour DynamoDB's isolation.

moto's TransactWriteItems evaluates conditions, writes, and on a failed condition
restores a snapshot of whole tables, all without a lock. Concurrent requests therefore
over-admit launches past a pool budget and silently lose each other's writes (seen in
tests/integration/store: 4 runs in 10 of 8 threads launching 20 jobs). DynamoDB itself
isolates transactions (and cancels a conflicting one with TransactionConflict), so the
local platform serves one DynamoDB request at a time, which is what this installs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def isolate_moto_dynamodb() -> Callable[[], None]:
    """Serialize moto's DynamoDB requests in this process; returns a function that undoes it.

    Call it before (or after) starting moto.server.ThreadedMotoServer in the same process.
    """
    from moto.dynamodb.responses import DynamoHandler  # only local mode has moto at hand

    serial = threading.Lock()
    original = DynamoHandler.call_action

    def serialized(self: Any) -> Any:
        with serial:
            return original(self)

    DynamoHandler.call_action = serialized  # type: ignore[method-assign]

    def undo() -> None:
        DynamoHandler.call_action = original  # type: ignore[method-assign]

    return undo
