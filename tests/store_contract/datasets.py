"""Dataset versions: numbered, immutable, scoped to a tenant and project; a validation is saved
onto its own version only."""

from __future__ import annotations

import pytest

from functions.domain.datasets import Validation
from sdk.contracts.errors import Conflict, NotFound
from sdk.contracts.validation import Finding, Severity, ValidationReport
from tests.store_contract.helpers import Store, at, dataset_version


class DatasetVersionsContract:
    def test_dataset_versions_are_numbered_immutable_and_listed_oldest_first(self, store: Store) -> None:
        for n in (2, 1, 3):
            store.create_dataset_version(dataset_version(n))
        store.create_dataset_version(dataset_version(1, name="other"))
        assert [v.version for v in store.dataset_versions("acme", "p1", "intents")] == [1, 2, 3]
        assert store.get_dataset_version("acme", "p1", "intents", 2) == dataset_version(2)
        with pytest.raises(Conflict):
            store.create_dataset_version(dataset_version(2).model_copy(update={"key": "acme/p1/intents/evil"}))
        assert store.get_dataset_version("acme", "p1", "intents", 2).key == dataset_version(2).key
        assert store.dataset_versions("acme", "p1", "nope") == []

    def test_dataset_versions_are_tenant_and_project_scoped(self, store: Store) -> None:
        store.create_dataset_version(dataset_version(1))
        assert store.dataset_versions("globex", "p1", "intents") == []
        assert store.dataset_versions("acme", "p2", "intents") == []
        with pytest.raises(NotFound):
            store.get_dataset_version("globex", "p1", "intents", 1)
        with pytest.raises(NotFound):
            store.get_dataset_version("acme", "p1", "intents", 2)
        with pytest.raises(NotFound):  # another tenant cannot write a validation onto it
            store.save_dataset_version(dataset_version(1, tenant="globex"))

    def test_a_validation_is_saved_with_its_version_only(self, store: Store) -> None:
        store.create_dataset_version(dataset_version(1))
        store.create_dataset_version(dataset_version(2))
        report = ValidationReport(
            dataset="intents",
            version=1,
            validator="intent-csv/1",
            passed=False,
            findings=[Finding(code="empty_text", severity=Severity.ERROR, message="the text is empty", line=3)],
            checked={"rows": 10, "errors": 1},
        )
        checked = Validation(job_id="t9.1", task_id="t9", finished_at=at(50), report=report)
        store.save_dataset_version(dataset_version(1).validated_by(checked))
        assert store.get_dataset_version("acme", "p1", "intents", 1).validation == checked
        assert store.get_dataset_version("acme", "p1", "intents", 1).status == "failed"
        assert store.get_dataset_version("acme", "p1", "intents", 2).validation is None
        with pytest.raises(NotFound):
            store.save_dataset_version(dataset_version(3).validated_by(checked))
