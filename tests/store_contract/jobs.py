"""Jobs: read by tenant and attempt, saved against the stored version, written with their
epochs, checkpoints and run record in one write, a replayed event applied once; lookups by id
and the ingress's report marks."""

from __future__ import annotations

import pytest

from functions.domain import lifecycle
from functions.domain.admission import Capacity
from functions.domain.model import Checkpoint, ReportMark, TaskSummary
from functions.domain.runs import CodeDigest, DatasetRecord, RunRecord
from sdk.contracts.errors import AlreadyProcessed, Conflict, NotFound
from sdk.contracts.events import MAX_BATCH_EVENTS
from tests.store_contract.helpers import T0, Store, at, epoch, job, queued


class JobsContract:
    # tenant scoping

    def test_jobs_are_tenant_scoped_by_attempt(self, store: Store) -> None:
        queued(store, job("t1.2", attempt=2), job("t1.1", attempt=1), job("x", tenant="globex"))
        assert [j.job_id for j in store.list_jobs("acme", "t1")] == ["t1.1", "t1.2"]
        with pytest.raises(NotFound):
            store.get_job("acme", "x")
        with pytest.raises(NotFound):
            store.get_job("globex", "t1.1")

    # conflicts

    def test_save_job_needs_the_stored_version(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        saved = store.save_job(j.model_copy(update={"reason": "one"}), expected_version=0)
        assert saved.version == 1
        assert store.get_job("acme", "j1").version == 1
        with pytest.raises(Conflict):
            store.save_job(j.model_copy(update={"reason": "stale"}), expected_version=0)
        with pytest.raises(Conflict):
            store.save_job(j.model_copy(update={"tenant": "globex"}), expected_version=1)
        with pytest.raises(Conflict):
            store.save_job(job("missing"), expected_version=0)
        assert store.get_job("acme", "j1").reason == "one"

    def test_a_jobs_run_record_round_trips(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        record = RunRecord(
            image="registry.example/t:1",
            image_id="registry.example/t@sha256:" + "a" * 64,
            command=["python", "train.py"],
            code_dir="/lab",
            code=CodeDigest(sha256="c" * 64, files=3, size_bytes=120),
            datasets={"d": DatasetRecord(key="acme/p/d", sha256="d" * 64, size_bytes=9, granted_at=T0)},
        )
        store.save_job(j.model_copy(update={"provenance": record}), expected_version=0)
        assert store.get_job("acme", "j1").provenance == record

    def test_save_job_cannot_take_capacity_behind_launch_jobs_back(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        with pytest.raises(Conflict):
            store.save_job(lifecycle.launch(j, at(1)), expected_version=0)
        assert store.usage("gpu") == (Capacity(), {})

    # dedup, epochs, checkpoints

    def test_replayed_event_changes_nothing(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        j = store.save_job(j, expected_version=0, dedup="report#e1", epochs=(epoch("j1", 1, loss=0.5),))
        with pytest.raises(AlreadyProcessed):  # replay with the current version
            store.save_job(j, expected_version=1, dedup="report#e1", epochs=(epoch("j1", 1, loss=9.0),))
        with pytest.raises(AlreadyProcessed):  # replay with the stale version: still a replay
            store.save_job(j, expected_version=0, dedup="report#e1", epochs=(epoch("j1", 2, loss=9.0),))
        assert store.get_job("acme", "j1").version == 1
        assert [(e.epoch, e.metrics) for e in store.epochs("acme", "j1")] == [(1, {"loss": 0.5})]
        store.save_job(j, expected_version=1, dedup="other#e1")  # another consumer may apply it

    def test_records_are_written_with_the_job(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        ckpt = Checkpoint(
            job_id="j1", tenant="acme", epoch=2, key="acme/j1/2.pt", metrics={"acc": 0.9}, reported_at=at(2)
        )
        j = store.save_job(j, expected_version=0, epochs=(epoch("j1", 2, loss=0.2),))
        j = store.save_job(j, expected_version=1, epochs=(epoch("j1", 1, loss=0.4),), checkpoints=(ckpt,))
        with pytest.raises(Conflict):
            store.save_job(j, expected_version=0, epochs=(epoch("j1", 3, loss=0.1),))
        assert [e.epoch for e in store.epochs("acme", "j1")] == [1, 2]
        assert store.checkpoints("acme", "j1") == [ckpt]
        assert store.epochs("globex", "j1") == [] and store.checkpoints("globex", "j1") == []

    def test_a_batch_of_records_is_one_write_with_one_replay_key(self, store: Store) -> None:
        (j,) = queued(store, job("j1"))
        ckpt = Checkpoint(job_id="j1", tenant="acme", epoch=3, key="acme/j1/3.pt", metrics={}, reported_at=at(3))
        assert not store.processed("report#b1.0")
        records = [epoch("j1", n, loss=1 / n) for n in range(1, MAX_BATCH_EVENTS)]  # the largest batch
        summary = TaskSummary.of(j).with_epochs(records)
        j = store.save_job(
            j, expected_version=0, dedup="report#b1.0", epochs=records, checkpoints=[ckpt], summary=summary
        )
        assert store.processed("report#b1.0") and not store.processed("report#b1.1")
        with pytest.raises(AlreadyProcessed):
            store.save_job(j, expected_version=1, dedup="report#b1.0", epochs=[epoch("j1", 41, loss=0.0)])
        assert [e.epoch for e in store.epochs("acme", "j1")] == list(range(1, MAX_BATCH_EVENTS))
        assert store.checkpoints("acme", "j1") == [ckpt]

    # lookups by id, the ingress's marks

    def test_jobs_by_id_returns_those_that_exist(self, store: Store) -> None:
        queued(store, job("a"), job("b", tenant="globex"))
        assert sorted(j.job_id for j in store.jobs_by_id(["b", "ghost", "a", "a"])) == ["a", "b"]
        assert store.jobs_by_id([]) == []

    def test_report_marks_keep_the_latest_acceptance_and_any_outcome(self, store: Store) -> None:
        store.note_report("acme", "a", at=at(5), outcome=False)
        assert store.report_marks(["a", "b"]) == {"a": ReportMark(job_id="a", tenant="acme", accepted_at=at(5))}
        store.note_report("acme", "a", at=at(7), outcome=True)
        store.note_report("acme", "a", at=at(9), outcome=False)  # e.g. logs after the outcome
        assert store.report_marks(["a"])["a"] == ReportMark(
            job_id="a", tenant="acme", accepted_at=at(9), outcome_at=at(7)
        )
        assert store.report_marks([]) == {}
