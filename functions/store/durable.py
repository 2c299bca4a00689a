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
not re-parse 10,000 jobs' JSON each time; see bench/README.md for the figures.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from functions.domain.model import Job
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
    CACHES = frozenset({"_parsed", "_entries"})

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        """`fsync=False` skips the fsync per call: still safe against kill -9, not against power loss."""
        super().__init__()
        self._journal = Journal(directory / STATE_FILE, fsync=fsync)
        self._parsed: dict[str, tuple[str, Job]] = {}  # job id -> (stored JSON, parsed Job)
        self._adopt_tables()
        self._lock = TxLock(self._journal)  # type: ignore[assignment]

    @property
    def path(self) -> Path:
        return self._journal.path

    def close(self) -> None:
        self._journal.close()

    def tables(self) -> dict[str, dict[Any, Any] | set[Any]]:
        """Every durable table by attribute name (for tests and `trainyard` diagnostics)."""
        return {name: value for name, value in vars(self).items()
                if isinstance(value, (TrackedDict, TrackedSet))}

    def summary(self) -> str:
        """What the file holds, e.g. 'projects 2, tasks 40, jobs 41, epochs 300, ...'."""
        return ", ".join(f"{name.lstrip('_')} {len(rows):,}" for name, rows in self.tables().items())

    def _adopt_tables(self) -> None:
        """Replace each dict/set attribute with a tracked one holding what the file has."""
        changes = self._journal.changes
        for name, value in list(vars(self).items()):
            if name in _MACHINERY or name in self.CACHES or isinstance(value, _LOCKS):
                continue
            saved = self._journal.saved(name)
            if isinstance(value, dict):
                factory = getattr(value, "default_factory", None)
                table: TrackedDict | TrackedSet = TrackedDict(name, changes, saved, default_factory=factory)
            elif isinstance(value, set):
                table = TrackedSet(name, changes, (key for key, _ in saved))
            else:
                raise TypeError(f"DurableStore cannot keep {type(self).__name__}.{name} "
                                f"({type(value).__name__}) durable: keep state in dicts or sets")
            setattr(self, name, table)
            self._journal.track(name, table)

    # Parsing every stored job on each index query is what costs at 10,000 jobs: reuse
    # the parsed Job while its stored text is unchanged (Jobs are frozen models).

    def _job(self, job_id: str) -> Job | None:
        body = self._jobs.get(job_id)
        return None if body is None else self._parse(job_id, body)

    def _all_jobs(self) -> list[Job]:
        with self._lock:
            return [self._parse(job_id, body) for job_id, body in self._jobs.items()]

    def _parse(self, job_id: str, body: str) -> Job:
        cached = self._parsed.get(job_id)
        if cached is not None and cached[0] == body:
            return cached[1]
        job = Job.model_validate_json(body)
        self._parsed[job_id] = (body, job)
        return job
