"""DurableStore: the embedded default's store. InMemoryStore's logic, its tables kept in SQLite.

Every port method is InMemoryStore's own (so it passes the same contract suites, and a
method added there is durable here with no work); what changes is where the tables
live. At start, each dict/set attribute of the store is filled from `state.db`; from then
on the store's lock is a TxLock (functions.store.journal) that writes the rows a call
touched in one SQLite transaction, fsync'd, before the call returns. So whatever the API
acknowledged survives `kill -9` of the platform at any instant, and no call is ever
half-applied on disk.

Reads stay in memory: a job read is one dict lookup. Parsed entities are cached by their
stored text; a project's tasks, a task's jobs and a job's epochs and checkpoints are found
through per-key indexes, and the sweep's queries (launch queues, deadlines, releases)
through sparse indexes holding only the jobs that have a row there (all derived data,
built on first use and kept up to date after each commit) instead of by walking every
row, as InMemoryStore does; see bench/README.md for the figures.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from functions.domain.model import Checkpoint, Epoch, Job, JobState, Task
from functions.store import rules
from functions.store.journal import Journal, TrackedDict, TrackedSet, TxLock
from functions.store.memory import InMemoryStore

STATE_FILE = "state.db"
# The sweep's sparse indexes, kept per write here (InMemoryStore finds their rows by walking).
SWEEP_INDEXES: tuple[Callable[[Job], rules.Entry | None], ...] = (
    rules.queue_entry,
    rules.deadline_entry,
    rules.release_entry,
)
# Attributes that are machinery, not tables: the journal and the lock.
_MACHINERY = frozenset({"_journal", "_lock"})
_LOCKS = (type(threading.Lock()), type(threading.RLock()))


class DurableStore(InMemoryStore):
    """Every port of InMemoryStore, kept in `directory/state.db` (created if missing)."""

    # Derived data of InMemoryStore (and of this class), rebuilt from the tables on demand:
    # never written to disk. Any other dict/set attribute is a table and is kept.
    CACHES = frozenset({"_parsed", "_entries", "_parsed_tasks", "_indexes", "_task_order", "_sparse", "_sparse_at"})

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        """`fsync=False` skips the fsync per call: still safe against kill -9, not against power loss."""
        super().__init__()
        self._journal = Journal(directory / STATE_FILE, fsync=fsync)
        self._indexes: dict[str, dict[str, set[Any]]] = {}  # index name -> key -> row keys (built on first use)
        # project id -> its tasks' (created_at, task id) in order: a comparison page is a bisect
        self._task_order: dict[str, list[tuple[str, str]]] = {}
        # The sweep's sparse indexes (launch queues, deadlines, releases), as DynamoDB keeps them:
        # index -> partition -> {job id: sort key}, holding only the jobs that have a row there
        # (the active few, not the history); where each job sits, to move it on a write.
        self._sparse: dict[str, dict[str, dict[str, str]]] = {}
        self._sparse_at: dict[str, dict[str, str]] = {}  # index -> job id -> its partition
        self._adopt_tables()
        self._lock = TxLock(self._journal, committed=self._reindex)  # type: ignore[assignment]

    @property
    def path(self) -> Path:
        return self._journal.path

    def close(self) -> None:
        self._journal.close()

    def tables(self) -> dict[str, dict[Any, Any] | set[Any]]:
        """Every durable table by attribute name (for tests and `trainyard` diagnostics)."""
        return {name: value for name, value in vars(self).items() if isinstance(value, (TrackedDict, TrackedSet))}

    def summary(self) -> str:
        """What the file holds, e.g. 'projects 2, tasks 40, jobs 41, epochs 300, ...'."""
        return ", ".join(f"{name.lstrip('_')} {len(rows):,}" for name, rows in self.tables().items())

    def _adopt_tables(self) -> None:
        """Replace each dict/set attribute with a tracked one holding what the file has."""
        changes = self._journal.changes
        for name, value in list(vars(self).items()):
            if name in _MACHINERY or name in self.CACHES or isinstance(value, _LOCKS):
                continue
            if isinstance(value, dict):
                factory = getattr(value, "default_factory", None)
                table: TrackedDict | TrackedSet = TrackedDict(
                    name, changes, self._journal.saved(name), default_factory=factory
                )
            elif isinstance(value, set):
                table = TrackedSet(name, changes, self._journal.saved_keys(name))
            else:
                raise TypeError(
                    f"DurableStore cannot keep {type(self).__name__}.{name} "
                    f"({type(value).__name__}) durable: keep state in dicts or sets"
                )
            setattr(self, name, table)
            self._journal.track(name, table)

    # Parsing every stored job on each index query is what costs at 10,000 jobs: InMemoryStore's
    # _job/_all_jobs/_parse (and _parse_task) reuse the parsed entity while its stored text is
    # unchanged (they are frozen models).

    # Per-key indexes: the same answers as InMemoryStore's walks (a test compares them), found
    # by key. Each maps a parent id to the row keys of one table; callers hold the lock.

    def _index_key(self, index: str, key: Any) -> str | None:
        # The parent id is read with json (several times faster than validating the whole entity).
        if index == "tasks_of_project":
            body = dict.get(self._tasks, key)
            return None if body is None else str(json.loads(body)["project_id"])
        if index == "jobs_of_task":
            body = dict.get(self._jobs, key)
            return None if body is None else str(json.loads(body)["task_id"])
        rows = self._epochs if index == "epochs_of_job" else self._checkpoints
        return str(key[0]) if key in rows else None

    def _table_of(self, index: str) -> dict[Any, Any]:
        tables: dict[str, dict[Any, Any]] = {
            "tasks_of_project": self._tasks,
            "jobs_of_task": self._jobs,
            "epochs_of_job": self._epochs,
            "checkpoints_of_job": self._checkpoints,
        }
        return tables[index]

    def _index(self, index: str) -> dict[str, set[Any]]:
        built = self._indexes.get(index)
        if built is None:
            built = {}
            for key in list(dict.keys(self._table_of(index))):
                parent = self._index_key(index, key)
                if parent is not None:
                    built.setdefault(parent, set()).add(key)
            self._indexes[index] = built
        return built

    def _reindex(self, touched: dict[str, dict[Any, None]]) -> None:
        tables = {
            "_tasks": "tasks_of_project",
            "_jobs": "jobs_of_task",
            "_epochs": "epochs_of_job",
            "_checkpoints": "checkpoints_of_job",
        }
        for table, keys in touched.items():
            if table == "_jobs":
                self._resparse(keys)
            if table == "_tasks":  # a task added (or gone): its project's order is built again
                for key in keys:
                    parent = self._index_key("tasks_of_project", key)
                    if parent is None:
                        self._task_order.clear()
                    else:
                        self._task_order.pop(parent, None)
            index = tables.get(table)
            built = None if index is None else self._indexes.get(index)
            if index is None or built is None:
                continue
            for key in keys:  # rows are added and rewritten, never moved to another parent
                parent = self._index_key(index, key)
                if parent is not None:
                    built.setdefault(parent, set()).add(key)
                else:
                    for members in built.values():
                        members.discard(key)

    # The sweep's index queries (InMemoryStore walks every job for them: 22 ms a sweep at 1,000
    # jobs of history, growing with it) read only their partitions' rows.

    def _indexed(self, partitions: set[str], entry: Callable[[Job], rules.Entry | None]) -> list[Job]:
        if entry not in SWEEP_INDEXES:  # an index this class does not keep: InMemoryStore's walk
            return super()._indexed(partitions, entry)
        with self._lock:
            index = self._sparse_indexes()[entry.__name__]
            rows = sorted((key, job_id) for p in partitions for job_id, key in index.get(p, {}).items())
            return [self._parse(job_id, dict.__getitem__(self._jobs, job_id)) for _, job_id in rows]

    def _sparse_indexes(self) -> dict[str, dict[str, dict[str, str]]]:
        """The sweep's indexes, built from every job in one pass on first use (callers hold the lock)."""
        if not self._sparse:
            for entry in SWEEP_INDEXES:
                self._sparse[entry.__name__], self._sparse_at[entry.__name__] = {}, {}
            candidates = [job_id for job_id, body in dict.items(self._jobs) if self._may_be_indexed(body)]
            self._resparse(candidates)
        return self._sparse

    @staticmethod
    def _may_be_indexed(body: str) -> bool:
        """False for a finished job whose capacity is given back, which no sweep index holds
        (most of the history): read with json, as validating 10,000 jobs costs ~1.4 s here."""
        fields = json.loads(body)
        return not JobState(fields["state"]).is_terminal or bool(fields.get("capacity_held"))

    def _resparse(self, job_ids: Iterable[str]) -> None:
        """Move written jobs' rows in the sweep's indexes, once built (callers hold the lock)."""
        if not self._sparse:
            return
        for job_id in job_ids:
            body = dict.get(self._jobs, job_id)
            for entry in SWEEP_INDEXES:
                built, at = self._sparse[entry.__name__], self._sparse_at[entry.__name__]
                old = at.pop(job_id, None)
                if old is not None:
                    del built[old][job_id]
                    if not built[old]:
                        del built[old]
                row = None if body is None else self._entry(job_id, body, entry)
                if row is not None:
                    built.setdefault(row.pool, {})[job_id] = row.key
                    at[job_id] = row.pool

    def list_tasks(self, tenant: str, project_id: str) -> list[Task]:
        with self._lock:
            ids = list(self._index("tasks_of_project").get(project_id, ()))
            tasks = [self._parse_task(tid, dict.__getitem__(self._tasks, tid)) for tid in ids]
        mine = [t for t in tasks if t.project_id == project_id and t.tenant == tenant]
        return sorted(mine, key=lambda t: rules.utc_iso(t.created_at))

    def task_page(
        self, tenant: str, project_id: str, *, after: str | None = None, limit: int = 50
    ) -> tuple[list[Task], str | None]:
        start = rules.parse_task_cursor(after) if after is not None else None
        with self._lock:
            order = self._task_order.get(project_id)
            if order is None:
                ids = self._index("tasks_of_project").get(project_id, ())
                tasks = (self._parse_task(tid, dict.__getitem__(self._tasks, tid)) for tid in ids)
                order = sorted((rules.utc_iso(t.created_at), t.task_id) for t in tasks)
                self._task_order[project_id] = order
            page: list[Task] = []
            for _, task_id in order[bisect.bisect_right(order, start) if start is not None else 0 :]:
                task = self._parse_task(task_id, dict.__getitem__(self._tasks, task_id))
                if task.tenant == tenant:
                    page.append(task)
                    if len(page) == limit:
                        break
        return page, rules.task_cursor(page[-1]) if len(page) == limit else None

    def list_jobs(self, tenant: str, task_id: str) -> list[Job]:
        with self._lock:
            jobs = [
                self._parse(jid, dict.__getitem__(self._jobs, jid))
                for jid in self._index("jobs_of_task").get(task_id, ())
            ]
        mine = [j for j in jobs if j.task_id == task_id and j.tenant == tenant]
        return sorted(mine, key=lambda j: j.attempt)

    def epochs(self, tenant: str, job_id: str) -> list[Epoch]:
        with self._lock:
            found = [
                Epoch.model_validate_json(dict.__getitem__(self._epochs, key))
                for key in self._index("epochs_of_job").get(job_id, ())
            ]
        return sorted((e for e in found if e.tenant == tenant), key=lambda e: e.epoch)

    def checkpoints(self, tenant: str, job_id: str) -> list[Checkpoint]:
        with self._lock:
            found = [
                Checkpoint.model_validate_json(dict.__getitem__(self._checkpoints, key))
                for key in self._index("checkpoints_of_job").get(job_id, ())
            ]
        return sorted((c for c in found if c.tenant == tenant), key=lambda c: c.epoch)
