"""Dataset versions in DynamoDB: one partition per dataset (tenant, project, name), by number."""

from __future__ import annotations

from functions.domain.datasets import DatasetVersion
from functions.store.dynamo_base import DynamoBase
from functions.store.errors import translated
from functions.store.tables import DatasetVersionRow
from functions.store.tx import Write
from sdk.contracts.errors import Conflict, NotFound


def _dataset(tenant: str, project_id: str, name: str) -> str:
    return f"{tenant}#{project_id}#{name}"


class DatasetsMixin(DynamoBase):
    def create_dataset_version(self, version: DatasetVersion) -> None:
        write = Write()
        write.put(
            self._dataset_row(version),
            condition=self._t.dataset_versions.dataset.does_not_exist(),
            on_fail=Conflict(f"dataset {version.name!r} version {version.version} already exists"),
        )
        self._commit(write)

    def dataset_versions(self, tenant: str, project_id: str, name: str) -> list[DatasetVersion]:
        with translated():
            rows = list(self._t.dataset_versions.query(_dataset(tenant, project_id, name), consistent_read=True))
        return [DatasetVersion.model_validate_json(row.body) for row in rows]

    def get_dataset_version(self, tenant: str, project_id: str, name: str, version: int) -> DatasetVersion:
        missing = NotFound("dataset version", f"{name} v{version}")
        with translated(missing=missing):
            row = self._t.dataset_versions.get(_dataset(tenant, project_id, name), version, consistent_read=True)
        return DatasetVersion.model_validate_json(row.body)

    def save_dataset_version(self, version: DatasetVersion) -> None:
        write = Write()
        write.put(
            self._dataset_row(version),
            condition=self._t.dataset_versions.dataset.exists(),
            on_fail=NotFound("dataset version", f"{version.name} v{version.version}"),
        )
        self._commit(write)

    def _dataset_row(self, version: DatasetVersion) -> DatasetVersionRow:
        return self._t.dataset_versions(
            _dataset(version.tenant, version.project_id, version.name),
            version.version,
            body=version.model_dump_json(),
        )
