"""DurableStore: the contract suites on a real SQLite file, each test ending with a restart.

Every contract test's store is reopened from its file at teardown and must hold exactly
what the running store held (every table, every row), so the whole suite is also a test
that nothing acknowledged is lost and nothing half-done is kept.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from functions.domain.model import Checkpoint, Job, JobState
from functions.store import rules
from functions.store.durable import DurableStore
from functions.store.journal import decode, encode
from functions.store.memory import InMemoryStore
from functions.store.rules import Entry
from sdk.contracts.errors import Conflict, TemporaryError
from tests.governance_store_contract import GovernanceStoreContract
from tests.model_store_contract import ModelStoreContract
from tests.store_contract import BIG, T0, StoreContract, at, epoch, job, project, task

ROOT = Path(__file__).resolve().parents[3]


def reopened_equal(store: DurableStore, directory: Path) -> None:
    store.close()  # as a killed process would: it holds the directory's lock until then
    again = DurableStore(directory)
    try:
        assert again.tables() == store.tables()
    finally:
        again.close()


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[DurableStore]:
    store = DurableStore(tmp_path)
    yield store
    reopened_equal(store, tmp_path)


class TestDurableStore(StoreContract):
    @pytest.fixture
    def store(self, durable: DurableStore) -> DurableStore:
        return durable


class TestDurableGovernanceStore(GovernanceStoreContract):
    @pytest.fixture
    def store(self, durable: DurableStore) -> DurableStore:
        return durable


class TestDurableModelStore(ModelStoreContract):
    @pytest.fixture
    def models(self, durable: DurableStore) -> DurableStore:
        return durable


def test_what_a_call_wrote_is_there_after_a_restart(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    store.create_project(project("p1"))
    store.create_task(task("t1"), job("t1.1"), dedup="event-1")
    with pytest.raises(RuntimeError, match="another trainyard platform is using"):
        DurableStore(tmp_path)  # one writer per state dir
    store.close()
    again = DurableStore(tmp_path)
    assert again.get_project("acme", "p1").project_id == "p1"
    assert again.get_job("acme", "t1.1").state.value == "QUEUED"
    assert [j.job_id for j in again.queued_jobs("gpu", tenant="acme")] == ["t1.1"]
    with pytest.raises(Conflict):  # the task, the job and the dedup key came back together
        again.create_task(task("t1"), job("t1.1"))


def test_indexed_reads_answer_exactly_as_the_in_memory_walks(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)

    def same() -> None:
        for pid in ("p1", "p2", "nope"):
            for tenant in ("acme", "other"):
                assert store.list_tasks(tenant, pid) == InMemoryStore.list_tasks(store, tenant, pid)
        for n in range(6):
            tid, jid = f"t{n}", f"t{n}.1"
            assert store.list_jobs("acme", tid) == InMemoryStore.list_jobs(store, "acme", tid)
            assert store.list_jobs("other", tid) == InMemoryStore.list_jobs(store, "other", tid) == []
            assert store.epochs("acme", jid) == InMemoryStore.epochs(store, "acme", jid)
            assert store.checkpoints("acme", jid) == InMemoryStore.checkpoints(store, "acme", jid)

    same()  # empty, and the indexes are built now: what follows keeps them up to date
    for n in range(6):
        store.create_task(task(f"t{n}", pid=f"p{n % 2 + 1}", created=10 - n), job(f"t{n}.1", tid=f"t{n}"))
        if n % 2:
            store.create_job(job(f"t{n}.2", tid=f"t{n}", attempt=2))
    first = store.get_job("acme", "t0.1")
    for e in (2, 1, 3):
        first = store.save_job(
            first,
            expected_version=first.version,
            epochs=(epoch("t0.1", e, loss=1 / e),),
            checkpoints=(Checkpoint(job_id="t0.1", tenant="acme", epoch=e, key=f"k{e}", metrics={}, reported_at=T0),)
            if e != 2
            else (),
        )
    same()
    store.close()
    store = DurableStore(tmp_path)  # after a restart, built from the loaded tables
    same()
    store.close()


SWEEP_INDEXES = (rules.queue_entry, rules.deadline_entry, rules.release_entry)


def test_the_sweeps_index_queries_answer_exactly_as_the_in_memory_walks(tmp_path: Path) -> None:
    """The sweep's sparse indexes (kept per write, not found by walking every job) against
    InMemoryStore's walk, after every step of jobs moving through their states in two pools
    and two tenants, and again after a restart."""
    store = DurableStore(tmp_path)
    partitions = {
        p
        for pool in ("gpu", "cpu")
        for p in (*rules.deadline_partitions(pool), pool, *(rules.queue_partition(pool, t) for t in ("acme", "other")))
    }

    def same() -> None:
        for entry in SWEEP_INDEXES:
            for p in partitions:
                assert store._indexed({p}, entry) == InMemoryStore._indexed(store, {p}, entry), (entry.__name__, p)
            assert store._indexed(partitions, entry) == InMemoryStore._indexed(store, partitions, entry)

    same()  # empty, and the indexes are built now: what follows keeps them up to date
    jobs = []
    for n in range(12):
        pool, tenant = ("gpu", "cpu")[n % 2], ("acme", "other")[n % 3 == 0]
        made = job(f"t{n}.1", tid=f"t{n}", tenant=tenant, pool=pool, priority=n % 4, created=n)
        store.create_task(task(f"t{n}", tenant=tenant), made)
        jobs.append(made)
        same()
    steps: list[Callable[[Job], Job]] = [
        lambda j: store.launch_job(
            j.model_copy(update={"state": JobState.LAUNCHING, "launched_at": T0, "capacity_held": True}),
            expected_version=j.version,
            policy=BIG,
        ),
        lambda j: store.save_job(
            j.model_copy(update={"state": JobState.RUNNING, "started_at": at(1), "heartbeat_at": at(2)}),
            expected_version=j.version,
        ),
        lambda j: store.save_job(
            j.model_copy(update={"state": JobState.SUCCEEDED, "finished_at": at(3)}), expected_version=j.version
        ),
        lambda j: store.release_job(
            j.model_copy(update={"capacity_held": False, "cleaned_up": True}), expected_version=j.version
        ),
    ]
    for n, current in enumerate(jobs):
        for step in steps[: n % (len(steps) + 1)]:  # each job goes a different distance
            current = step(current)
            same()
    store.close()
    store = DurableStore(tmp_path)  # after a restart, built from the loaded tables
    same()
    store.close()


def test_a_refused_call_leaves_nothing_on_disk(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    store.create_task(task("t1"), job("t1.1"))
    with pytest.raises(Conflict):
        store.create_task(task("t2"), job("t1.1"))  # the job exists: the new task must not be kept
    store.close()
    assert [t.task_id for t in DurableStore(tmp_path).list_tasks("acme", "p1")] == ["t1"]


def test_the_state_file_is_private(tmp_path: Path) -> None:
    store = DurableStore(tmp_path / "state")
    assert (store.path.stat().st_mode & 0o777) == 0o600
    assert (store.path.parent.stat().st_mode & 0o777) == 0o700


def test_a_write_the_disk_refuses_stops_the_store_rather_than_answering_from_memory(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    store.close()  # the file can no longer be written
    with pytest.raises(TemporaryError, match="restart the platform"):
        store.create_project(project("p1"))
    with pytest.raises(TemporaryError, match="restart the platform"):
        store.get_project("acme", "p1")  # memory has p1; the file does not: answer nothing
    assert DurableStore(tmp_path).list_projects("acme") == []


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "",
        0,
        -3,
        2.5,
        True,
        None,
        ("pool", "tenant"),
        ["a", ("b", 1)],
        {"x", "y"},
        {("gpu", "acme"): {"slots": 1}},
        datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    ],
)
def test_every_kind_of_key_and_value_round_trips(value: object) -> None:
    text, is_json = encode(value)
    back = decode(text, is_json)
    assert back == value and type(back) is type(value)


@pytest.mark.parametrize(
    "value", [object(), JobState.QUEUED, Entry("gpu", "k"), ("a", JobState.RUNNING), frozenset({1})]
)
def test_something_it_cannot_keep_as_it_is_is_refused_by_name(value: object) -> None:
    with pytest.raises(TypeError, match="a durable table cannot keep a"):  # never kept as a look-alike
        encode(value)


class _WithACache(DurableStore):
    CACHES = DurableStore.CACHES | {"_seen"}

    def __init__(self, directory: Path) -> None:
        self._seen: dict[str, Entry] = {}
        super().__init__(directory)


def test_a_listed_cache_is_not_kept(tmp_path: Path) -> None:
    store = _WithACache(tmp_path)
    store._seen["x"] = Entry("gpu", "k")
    store.create_project(project("p1"))  # flushes without trying to keep the cache
    assert "_seen" not in store.tables()


class _WithAList(DurableStore):
    def __init__(self, directory: Path) -> None:
        self._history: list[str] = []
        super().__init__(directory)


def test_a_store_attribute_it_cannot_keep_durable_fails_at_start_not_later(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="_history"):
        _WithAList(tmp_path)


_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from functions.domain.model import Checkpoint, JobState
from functions.store.durable import DurableStore
    from tests.store_contract import job, project, task
    store = DurableStore(Path(sys.argv[1]))
    n = 0
    while True:
        n += 1
        store.create_project(project(f"p{n}"))
        store.create_task(task(f"t{n}", pid=f"p{n}"), job(f"t{n}.1", tid=f"t{n}"), dedup=f"e{n}")
        print(n, flush=True)  # acknowledged: both calls returned
""")


def test_kill_9_in_the_middle_of_a_burst_loses_no_acknowledged_write(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    acknowledged = 0
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= 60:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    store = DurableStore(tmp_path)
    tasks = {t.task_id for p in store.list_projects("acme") for t in store.list_tasks("acme", p.project_id)}
    assert {f"t{n}" for n in range(1, acknowledged + 1)} <= tasks
    for tid in tasks:  # whatever was written past the last acknowledgement is whole, never half
        assert store.get_job("acme", f"{tid}.1").task_id == tid
    assert json.dumps(sorted(tasks))  # and the file opened cleanly
