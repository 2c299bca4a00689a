"""One error root for the whole platform, split by meaning and by retry intent.

Edges (HTTP, CloudEvent, gRPC) map these to status codes in exactly one table each;
the core raises them and never imports a web framework.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


class TrainyardError(Exception):
    """Root of every error the platform raises on purpose.

    `retryable` is the retry intent (kopf's TemporaryError/PermanentError): True when the same
    request or event may succeed later (a dependency was down, a concurrent write won), so an
    event is redelivered after `delay_s`; False when repeating it cannot change the outcome.
    """

    retryable: ClassVar[bool] = False
    delay_s: float = 0.0


class NotFound(TrainyardError):
    """The resource does not exist, or belongs to another tenant (never say which)."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


class Conflict(TrainyardError):
    """A concurrent or duplicate write lost a condition (version, existence, budget)."""

    retryable = True  # the next try reads the winner's write


class AlreadyProcessed(Conflict):
    """This event id was already applied by this consumer; replaying it changes nothing."""

    retryable = False


class CapacityExhausted(Conflict):
    """The pool's budget or the tenant's cap does not allow another job right now."""


class Forbidden(TrainyardError):
    """The caller is known but may not do this."""


class Unauthenticated(TrainyardError):
    """No credentials, or credentials that do not verify."""


class InvalidTransition(TrainyardError):
    """A job state change that the lifecycle does not allow (the job moved on: not retryable)."""

    def __init__(self, job_id: str, from_: str, to: str, why: str = "") -> None:
        detail = f": {why}" if why else ""
        super().__init__(f"job {job_id}: cannot go from {from_} to {to}{detail}")
        self.job_id = job_id
        self.from_ = from_
        self.to = to


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, and what."""

    field: str
    message: str


class ValidationError(TrainyardError):
    """Every problem with an input, collected and raised once."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


class TooLarge(ValidationError):
    """An input over a size limit (HTTP 413): split it, do not retry it as it is."""


class TemporaryError(TrainyardError):
    """Try again later (the broker redelivers): a dependency is briefly unavailable."""

    retryable = True

    def __init__(self, message: str, delay_s: float = 1.0) -> None:
        super().__init__(message)
        self.delay_s = delay_s


class PermanentError(TrainyardError):
    """Retrying cannot help: record the failure and move on."""
