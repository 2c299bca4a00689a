"""The ModelStore contract, run against the in-memory fake and DynamoDB."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from functions.domain.registry import PublishedModel
from functions.ports import ModelStore
from sdk.contracts.errors import Conflict, NotFound
from tests.support.builders import T0


def model(model_id: str = "m-1", tenant: str = "acme", minutes: int = 0, **kw: Any) -> PublishedModel:
    base: dict[str, Any] = dict(
        model_id=model_id,
        tenant=tenant,
        name="n",
        kind="intent",
        labels=("a", "b"),
        project_id="p",
        task_id="t",
        job_id="t.1",
        epoch=2,
        metrics={"acc": 0.9},
        archive_key="k",
        sha256="0" * 64,
        size_bytes=10,
        created_at=T0 + timedelta(minutes=minutes),
    )
    base.update(kw)
    return PublishedModel(**base)


class ModelStoreContract:
    def test_create_get_and_conflict(self, models: ModelStore) -> None:
        models.create_model(model())
        assert models.get_model("acme", "m-1") == model()
        with pytest.raises(Conflict):
            models.create_model(model())

    def test_tenant_scoping(self, models: ModelStore) -> None:
        models.create_model(model("m-1"))
        models.create_model(model("m-2", tenant="other"))
        with pytest.raises(NotFound):
            models.get_model("other", "m-1")
        with pytest.raises(NotFound):
            models.update_model(model("m-1", tenant="other", active=False))
        assert [m.model_id for m in models.list_models("acme")] == ["m-1"]

    def test_list_newest_first_and_update(self, models: ModelStore) -> None:
        models.create_model(model("m-1", minutes=1))
        models.create_model(model("m-2", minutes=2))
        models.update_model(model("m-1", minutes=1, active=False))
        listed = models.list_models("acme")
        assert [(m.model_id, m.active) for m in listed] == [("m-2", True), ("m-1", False)]
        with pytest.raises(NotFound):
            models.update_model(model("m-missing"))
