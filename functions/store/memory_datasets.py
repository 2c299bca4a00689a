"""The DatasetStore port in memory (thread-safe), with DynamoDB's semantics: versions kept as
JSON under (tenant, project, name, version), listed oldest first."""

from __future__ import annotations

import threading

from functions.domain.datasets import DatasetVersion
from sdk.contracts.errors import Conflict, NotFound


def _dataset(tenant: str, project_id: str, name: str) -> str:
    return f"{tenant}#{project_id}#{name}"


class InMemoryDatasetStore:
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        # "<tenant>#<project>#<name>" -> version number -> DatasetVersion JSON
        self._dataset_versions: dict[str, dict[int, str]] = {}

    def create_dataset_version(self, version: DatasetVersion) -> None:
        key = _dataset(version.tenant, version.project_id, version.name)
        with self._lock:
            versions = self._dataset_versions.setdefault(key, {})
            if version.version in versions:
                raise Conflict(f"dataset {version.name!r} version {version.version} already exists")
            versions[version.version] = version.model_dump_json()
            self._dataset_versions[key] = versions  # a durable table sees the row change

    def dataset_versions(self, tenant: str, project_id: str, name: str) -> list[DatasetVersion]:
        with self._lock:
            bodies = dict(self._dataset_versions.get(_dataset(tenant, project_id, name)) or {})
        return [DatasetVersion.model_validate_json(bodies[n]) for n in sorted(bodies)]

    def get_dataset_version(self, tenant: str, project_id: str, name: str, version: int) -> DatasetVersion:
        with self._lock:
            body = (self._dataset_versions.get(_dataset(tenant, project_id, name)) or {}).get(version)
        if body is None:
            raise NotFound("dataset version", f"{name} v{version}")
        return DatasetVersion.model_validate_json(body)

    def save_dataset_version(self, version: DatasetVersion) -> None:
        key = _dataset(version.tenant, version.project_id, version.name)
        with self._lock:
            versions = self._dataset_versions.get(key)
            if versions is None or version.version not in versions:
                raise NotFound("dataset version", f"{version.name} v{version.version}")
            versions[version.version] = version.model_dump_json()
            self._dataset_versions[key] = versions
