"""Published models in DynamoDB: tenant-scoped reads, conditional writes."""

from __future__ import annotations

from functions.domain.registry import PublishedModel
from functions.store import rules
from functions.store.dynamo_base import DynamoBase
from functions.store.errors import translated
from functions.store.tables import ModelRow
from functions.store.tx import Write
from sdk.contracts.errors import Conflict, NotFound


class ModelsMixin(DynamoBase):
    def create_model(self, model: PublishedModel) -> None:
        write = Write()
        write.put(
            self._model_row(model),
            condition=self._t.models_.model_id.does_not_exist(),
            on_fail=Conflict(f"model {model.model_id} already exists"),
        )
        self._commit(write)

    def get_model(self, tenant: str, model_id: str) -> PublishedModel:
        missing = NotFound("model", model_id)
        with translated(missing=missing):
            row = self._t.models_.get(model_id, consistent_read=True)
        if row.tenant != tenant:
            raise missing
        return PublishedModel.model_validate_json(row.body)

    def list_models(self, tenant: str) -> list[PublishedModel]:
        with translated():
            rows = list(self._t.models_.by_tenant.query(tenant, scan_index_forward=False))
        return [PublishedModel.model_validate_json(row.body) for row in rows]

    def update_model(self, model: PublishedModel) -> None:
        models = self._t.models_
        write = Write()
        write.put(
            self._model_row(model),
            condition=models.model_id.exists() & (models.tenant == model.tenant),
            on_fail=NotFound("model", model.model_id),
        )
        self._commit(write)

    def _model_row(self, model: PublishedModel) -> ModelRow:
        return self._t.models_(
            model.model_id,
            tenant=model.tenant,
            created_at=rules.utc_iso(model.created_at),
            body=model.model_dump_json(),
        )
