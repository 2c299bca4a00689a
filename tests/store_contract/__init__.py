"""The contract every store honours (ProjectStore, TaskStore, JobStore, DatasetStore of functions.ports).

Subclass `StoreContract` and provide a `store` fixture; pytest then runs every test of its
rooms against that store. InMemoryStore (tests/unit/store), DurableStore and DynamoStore on a
real moto server (tests/integration/store) and on the Terraform-made tables
(tests/integration/terraform) all run it, which keeps the fake honest.

One module a room, each a mixin of that room's tests (a suite may also take one room alone):
projects (projects and tasks), jobs (versioned saves, replays, epochs and checkpoints),
admission (queue and deadline indexes, capacity), summaries (the comparison's read model and
task pages), datasets (dataset versions). What they share is in helpers.
"""

from __future__ import annotations

import pytest

from tests.store_contract.admission import AdmissionContract
from tests.store_contract.datasets import DatasetVersionsContract
from tests.store_contract.helpers import (
    BIG,
    POLICY,
    T0,
    Store,
    at,
    dataset_version,
    epoch,
    finished_and_cleaned,
    job,
    launched,
    project,
    queued,
    task,
)
from tests.store_contract.jobs import JobsContract
from tests.store_contract.projects import ProjectsAndTasksContract
from tests.store_contract.summaries import SummariesContract

__all__ = [
    "BIG",
    "POLICY",
    "T0",
    "AdmissionContract",
    "DatasetVersionsContract",
    "JobsContract",
    "ProjectsAndTasksContract",
    "Store",
    "StoreContract",
    "SummariesContract",
    "at",
    "dataset_version",
    "epoch",
    "finished_and_cleaned",
    "job",
    "launched",
    "project",
    "queued",
    "task",
]


# pytest runs the tests of base classes in reverse MRO order: listed last, projects run first, as
# they did before the rooms were split out.
class StoreContract(
    DatasetVersionsContract, SummariesContract, AdmissionContract, JobsContract, ProjectsAndTasksContract
):
    @pytest.fixture
    def store(self) -> Store:
        raise NotImplementedError("a subclass provides the store under test")
