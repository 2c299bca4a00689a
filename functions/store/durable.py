"""DurableStore: the embedded default's store. InMemoryStore's logic, its tables kept in SQLite.

Every port method is InMemoryStore's own (so it passes the same contract suites, and a
method added there is durable here with no work); what changes is where the tables
live. At start, each dict/set attribute of the store is filled from `state.db`; from then
on the store's lock is a TxLock (functions.store.journal) that writes the rows a call
touched in one SQLite transaction, fsync'd, before the call returns. So whatever the API
acknowledged survives `kill -9` of the platform at any instant, and no call is ever
half-applied on disk.

Reads stay in memory: a job read is one dict lookup. Parsed entities are cached by their
stored text, so the index queries (which InMemoryStore answers by walking the jobs) do
not re-parse 10,000 jobs' JSON each time, and a project's tasks, a task's jobs and a job's
epochs and checkpoints are found through per-key indexes (derived data, built on first use
and kept up to date after each commit) instead of by walking every row; see
bench/README.md for the figures.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from functions.domain.model import Checkpoint, Epoch, Job, Task
from functions.store import rules
from functions.store.journal import Journal, TrackedDict, TrackedSet, TxLock
from functions.store.memory import InMemoryStore

STATE_FILE = "state.db"
# Attributes that are machinery, not tables: the journal and the lock.
_MACHINERY = frozenset({"_journal", "_lock"})
_LOCKS = (type(threading.Lock()), type(threading.RLock()))


class DurableStore(InMemoryStore):
    """Every port of InMemoryStore, kept in `directory/state.db` (created if missing)."""

    # Derived data of InMemoryStore (and of this class), rebuilt from the tables on demand:
    # never written to disk. Any other dict/set attribute is a table and is kept.
    CACHES = frozenset({"_parsed", "_entries", "_parsed_tasks", "_indexes"})

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        """`fsync=False` skips the fsync per call: still safe against kill -9, not against power loss."""
        super().__init__()
        self._journal = Journal(directory / STATE_FILE, fsync=fsync)
        self._parsed_tasks: dict[str, tuple[str, Task]] = {}
        self._indexes: dict[str, dict[str, set[Any]]] = {}  # index name -> key -> row keys (built on first use)
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
    # _job/_all_jobs/_parse reuse the parsed Job while its stored text is unchanged (Jobs are
    # frozen models); tasks, which only this class indexes, get the same here.

    def _parse_task(self, task_id: str, body: str) -> Task:
        cached = self._parsed_tasks.get(task_id)
        if cached is not None and cached[0] == body:
            return cached[1]
        task = Task.model_validate_json(body)
        self._parsed_tasks[task_id] = (body, task)
        return task

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

    def list_tasks(self, tenant: str, project_id: str) -> list[Task]:
        with self._lock:
            ids = list(self._index("tasks_of_project").get(project_id, ()))
            tasks = [self._parse_task(tid, dict.__getitem__(self._tasks, tid)) for tid in ids]
        mine = [t for t in tasks if t.project_id == project_id and t.tenant == tenant]
        return sorted(mine, key=lambda t: rules.utc_iso(t.created_at))

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
