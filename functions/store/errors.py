"""The one place where PynamoDB/botocore exceptions become trainyard errors.

A write is a list of conditional items; each item carries the error its failed
condition means (a dedup key -> AlreadyProcessed, a version -> Conflict, a budget ->
CapacityExhausted). DynamoDB reports one cancellation reason per item, in order, so the
reasons say which of them failed. When several failed, the one that explains the
others wins: a replayed event is AlreadyProcessed even though its version is stale too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError

from sdk.contracts.errors import (
    AlreadyProcessed,
    CapacityExhausted,
    NotFound,
    PermanentError,
    TemporaryError,
    TrainyardError,
)

_CONDITION_FAILED = "ConditionalCheckFailed"
# Worth another try: throttling, a brief outage, or a concurrent transaction on an item.
_TRANSIENT = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    }
)
# A retry after contention should not wait the default second: the winner is already done.
_CONTENTION_DELAY_S = 0.05


def _precedence(error: TrainyardError) -> int:
    if isinstance(error, AlreadyProcessed):
        return 0
    if isinstance(error, CapacityExhausted):
        return 2
    return 1


@contextmanager
def translated(*, missing: NotFound | None = None, on_fail: Sequence[TrainyardError] = ()) -> Iterator[None]:
    """Run a PynamoDB call; re-raise its failure as a TrainyardError `from` the original.

    `missing`: what a DoesNotExist means. `on_fail[i]`: what a failed condition on the
    i-th item of the write means (items in the order DynamoDB receives them).
    """
    try:
        yield
    except DoesNotExist as exc:
        raise (missing or NotFound("item", "?")) from exc
    except TransactWriteError as exc:
        raise _from_transaction(exc, on_fail) from exc
    except PynamoDBException as exc:
        code = exc.cause_response_code or ""
        if code.startswith(_CONDITION_FAILED) and on_fail:
            raise on_fail[0] from exc
        raise _from_code(code, exc) from exc


def _from_transaction(exc: TransactWriteError, on_fail: Sequence[TrainyardError]) -> TrainyardError:
    reasons = exc.cancellation_reasons
    failed = [
        on_fail[i]
        for i, reason in enumerate(reasons)
        if reason is not None and reason.code == _CONDITION_FAILED and i < len(on_fail)
    ]
    if failed:
        return min(failed, key=_precedence)
    codes = [reason.code for reason in reasons if reason is not None and reason.code != "None"]
    return _from_code(codes[0] if codes else exc.cause_response_code or "", exc)


def _from_code(code: str, exc: PynamoDBException) -> TrainyardError:
    message = f"DynamoDB: {exc.cause_response_message or exc.msg} ({code or 'no response'})"
    if code in _TRANSIENT:
        delay = _CONTENTION_DELAY_S if code.startswith("Transaction") else 1.0
        return TemporaryError(message, delay_s=delay)
    if not code:  # no answer at all: connection refused, timeout, DNS
        return TemporaryError(message)
    return PermanentError(message)
