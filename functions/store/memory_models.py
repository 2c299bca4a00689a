"""The ModelStore port in memory (thread-safe), with the same semantics as DynamoDB's."""

from __future__ import annotations

import threading

from functions.domain.registry import PublishedModel
from functions.store import rules
from sdk.contracts.errors import Conflict, NotFound


class InMemoryModelStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, str] = {}

    def create_model(self, model: PublishedModel) -> None:
        with self._lock:
            if model.model_id in self._models:
                raise Conflict(f"model {model.model_id} already exists")
            self._models[model.model_id] = model.model_dump_json()

    def get_model(self, tenant: str, model_id: str) -> PublishedModel:
        with self._lock:
            body = self._models.get(model_id)
        model = None if body is None else PublishedModel.model_validate_json(body)
        if model is None or model.tenant != tenant:
            raise NotFound("model", model_id)
        return model

    def list_models(self, tenant: str) -> list[PublishedModel]:
        with self._lock:
            models = [PublishedModel.model_validate_json(b) for b in self._models.values()]
        mine = [m for m in models if m.tenant == tenant]
        return sorted(mine, key=lambda m: rules.utc_iso(m.created_at), reverse=True)

    def update_model(self, model: PublishedModel) -> None:
        with self._lock:
            body = self._models.get(model.model_id)
            if body is None or PublishedModel.model_validate_json(body).tenant != model.tenant:
                raise NotFound("model", model.model_id)
            self._models[model.model_id] = model.model_dump_json()
