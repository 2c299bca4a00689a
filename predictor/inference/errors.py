"""What can go wrong inside the inference server, beyond sdk.contracts.errors."""

from __future__ import annotations

from sdk.contracts.errors import PermanentError, TrainyardError


class ModelInvalid(PermanentError):
    """The model's files cannot be served: unreadable, inconsistent, or built for another table."""


class WrongKind(TrainyardError):
    """An intent model called on the vision service, or the reverse."""

    def __init__(self, model_id: str, *, kind: str, wanted: str) -> None:
        super().__init__(f"model {model_id!r} is a {kind} model, not a {wanted} model")
        self.kind = kind
        self.wanted = wanted
