"""Containers that remember what changed, and a SQLite file that keeps them across restarts.

DurableStore (functions.store.durable) keeps InMemoryStore's logic and makes its tables
durable: every dict and set attribute of the store becomes a TrackedDict / TrackedSet
that records which keys a call touched, and the store's lock becomes a TxLock that,
when the outermost `with` ends, writes exactly those rows in one SQLite transaction and
commits it (WAL, synchronous=FULL: fsync'd) before the caller gets its answer. A crash at
any instant therefore loses nothing that was acknowledged, and never half of one call.

What is kept: str/int/float/bool/None, tuples, lists, sets, dicts and datetimes (keys
and values), nested as deep as needed. A nested container is saved when it is reached
through `d[k]`, `d.get(k)` or `d.setdefault(k, ...)` inside the lock: mutate nested
values only through those (iterating `values()` and changing what comes out is not seen).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sdk.contracts.errors import TemporaryError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    tbl   TEXT NOT NULL,
    k     TEXT NOT NULL,
    kjson INTEGER NOT NULL,   -- 0: k is the key itself (a str); 1: k is encode(key)
    v     TEXT NOT NULL,
    vjson INTEGER NOT NULL,   -- 0: v is the value itself (a str); 1: v is encode(value)
    PRIMARY KEY (tbl, k, kjson)
) WITHOUT ROWID;
"""
_MUTABLE = (dict, list, set)
# Held (flock) by the process that has the state open; `trainyard reset` checks the same file.
LOCK_FILE = "lock"


# encoding: JSON with tags for what JSON lacks (tuples, sets, non-str dict keys, datetimes)


def _enc(value: Any) -> Any:
    # Exact types only: a StrEnum, IntEnum or NamedTuple would come back as a plain str, int
    # or tuple, so they are refused (loudly, in the contract suites) rather than degraded.
    kind = type(value)
    if value is None or kind in (str, bool, int, float):
        return value
    if kind is datetime:
        return {"dt": value.isoformat()}
    if kind is tuple:
        return {"t": [_enc(v) for v in value]}
    if kind is list:
        return [_enc(v) for v in value]
    if kind is set:
        items = [_enc(v) for v in value]
        return {"s": sorted(items, key=lambda i: json.dumps(i, sort_keys=True))}
    if kind is dict:
        return {"d": [[_enc(k), _enc(v)] for k, v in value.items()]}
    raise TypeError(
        f"a durable table cannot keep a {kind.__name__} ({value!r:.60}); keep plain values "
        "(str, int, float, bool, None, datetime, tuple, list, set, dict), or list the attribute "
        "in DurableStore.CACHES if it is derived data"
    )


def _dec(value: Any) -> Any:
    if isinstance(value, list):
        return [_dec(v) for v in value]
    if not isinstance(value, dict):
        return value
    ((tag, body),) = value.items()
    if tag == "dt":
        return datetime.fromisoformat(body)
    if tag == "t":
        return tuple(_dec(v) for v in body)
    if tag == "s":
        return {_dec(v) for v in body}
    return {_dec(k): _dec(v) for k, v in body}


def encode(value: Any) -> tuple[str, int]:
    """A row's text and whether it is JSON (a plain str is stored as itself, parsed by nobody)."""
    if type(value) is str:
        return value, 0
    return json.dumps(_enc(value), separators=(",", ":"), sort_keys=True), 1


def decode(text: str, is_json: int) -> Any:
    return _dec(json.loads(text)) if is_json else text


def _hold(lock: Path) -> int:
    """Take the directory's lock for as long as the process lives (the kernel drops it at exit,
    kill -9 included): two platforms writing one state file would each lose the other's writes."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(f"another trainyard platform is using {lock.parent}; stop it first") from None
    return fd


class Changes:
    """Which rows of which table the current call touched (table -> keys)."""

    def __init__(self) -> None:
        self.touched: dict[str, dict[Any, None]] = {}

    def mark(self, table: str, key: Any) -> None:
        self.touched.setdefault(table, {})[key] = None

    def take(self) -> dict[str, dict[Any, None]]:
        touched, self.touched = self.touched, {}
        return touched


class TrackedDict(dict[Any, Any]):
    """A dict that tells `changes` which keys were written, deleted, or handed out mutable."""

    def __init__(
        self,
        table: str,
        changes: Changes,
        items: Iterable[tuple[Any, Any]] = (),
        *,
        default_factory: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(items)
        self.table, self._changes, self.default_factory = table, changes, default_factory

    def _touch(self, key: Any) -> None:
        self._changes.mark(self.table, key)

    def _handed_out(self, key: Any, value: Any) -> Any:
        if isinstance(value, _MUTABLE):
            self._touch(key)  # the caller may change it in place
        return value

    def __missing__(self, key: Any) -> Any:
        if self.default_factory is None:
            raise KeyError(key)
        self[key] = value = self.default_factory()
        return value

    def __getitem__(self, key: Any) -> Any:
        return self._handed_out(key, super().__getitem__(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return self._handed_out(key, super().get(key, default)) if key in self else default

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self._touch(key)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._touch(key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: Any, *default: Any) -> Any:
        if key in self:
            self._touch(key)
        return super().pop(key, *default)

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self._touch(key)
        return key, value

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Any) -> TrackedDict:  # type: ignore[misc]
        self.update(other)
        return self

    def clear(self) -> None:
        for key in list(self):
            self._touch(key)
        super().clear()


class TrackedSet(set[Any]):
    """A set that tells `changes` which members came or went (a member is a row, value 1)."""

    def __init__(self, table: str, changes: Changes, items: Iterable[Any] = ()) -> None:
        super().__init__(items)
        self.table, self._changes = table, changes

    def add(self, item: Any) -> None:
        super().add(item)
        self._changes.mark(self.table, item)

    def discard(self, item: Any) -> None:
        super().discard(item)
        self._changes.mark(self.table, item)

    def remove(self, item: Any) -> None:
        super().remove(item)
        self._changes.mark(self.table, item)

    def pop(self) -> Any:
        item = super().pop()
        self._changes.mark(self.table, item)
        return item

    def update(self, *others: Iterable[Any]) -> None:
        for other in others:
            for item in other:
                self.add(item)

    def __ior__(self, other: Any) -> TrackedSet:  # type: ignore[misc]
        self.update(other)
        return self

    def difference_update(self, *others: Iterable[Any]) -> None:
        for other in others:
            for item in list(other):
                self.discard(item)

    def __isub__(self, other: Any) -> TrackedSet:  # type: ignore[misc]
        self.difference_update(other)
        return self

    def clear(self) -> None:
        for item in list(self):
            self._changes.mark(self.table, item)
        super().clear()


class Journal:
    """One SQLite file holding every tracked table; `flush` writes what the last call touched."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._owner = _hold(path.parent / LOCK_FILE)
        self.changes = Changes()
        self.failed: BaseException | None = None
        self._tables: dict[str, TrackedDict | TrackedSet] = {}
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: fsync the WAL at every commit (survives power loss). NORMAL: the write() alone,
        # which survives kill -9 of the process but not a crash of the machine.
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        path.chmod(0o600)

    def saved(self, table: str) -> list[tuple[Any, Any]]:
        rows = self._db.execute("SELECT k, kjson, v, vjson FROM rows WHERE tbl = ?", (table,))
        return [(decode(k, kj), decode(v, vj)) for k, kj, v, vj in rows]

    def saved_keys(self, table: str) -> list[Any]:
        """The keys alone (a set's members)."""
        rows = self._db.execute("SELECT k, kjson FROM rows WHERE tbl = ?", (table,))
        return [k if not kj else decode(k, kj) for k, kj in rows]

    def tables(self) -> list[str]:
        return [t for (t,) in self._db.execute("SELECT DISTINCT tbl FROM rows")]

    def track(self, table: str, container: TrackedDict | TrackedSet) -> None:
        self._tables[table] = container

    def flush(self) -> dict[str, dict[Any, None]]:
        """Write what the call touched in one transaction; returns it (table -> keys)."""
        touched = self.changes.take()
        if not touched:
            return touched
        upserts: list[tuple[str, str, int, str, int]] = []
        deletes: list[tuple[str, str, int]] = []
        for table, keys in touched.items():
            container = self._tables[table]
            for key in keys:
                k, kj = encode(key)
                if key in container:
                    value = dict.__getitem__(container, key) if isinstance(container, TrackedDict) else 1
                    upserts.append((table, k, kj, *encode(value)))
                else:
                    deletes.append((table, k, kj))
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO rows (tbl, k, kjson, v, vjson) VALUES (?, ?, ?, ?, ?)", upserts)
                db.executemany("DELETE FROM rows WHERE tbl = ? AND k = ? AND kjson = ?", deletes)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except (sqlite3.Error, OSError, TypeError) as exc:
            # Memory now holds a change the file does not: stop, rather than answer from it.
            # A restart reloads the file, which is consistent (the transaction was all or nothing).
            self.failed = exc
            raise TemporaryError(
                f"the state file {self.path} could not be written ({exc}); restart the platform"
            ) from exc
        return touched

    def close(self) -> None:
        self._db.close()
        os.close(self._owner)  # releases the lock


class TxLock:
    """The store's lock: whoever leaves the outermost `with` first makes the call's changes durable.

    Re-entrant, so a helper that takes the lock inside a locked call commits nothing early.
    """

    def __init__(self, journal: Journal, *, committed: Callable[[dict[str, dict[Any, None]]], None]) -> None:
        """`committed(touched)` runs after each commit, still under the lock (to keep indexes)."""
        self._journal = journal
        self._committed = committed
        self._lock = threading.RLock()
        self._depth = 0

    def __enter__(self) -> TxLock:
        if self._journal.failed is not None:
            raise TemporaryError(
                f"the state file {self._journal.path} could not be written "
                f"({self._journal.failed}); restart the platform"
            )
        self._lock.acquire()
        self._depth += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self._depth == 1:
                # Even after an error: the file must mirror memory, whatever memory now holds.
                touched = self._journal.flush()
                if touched:
                    self._committed(touched)
        finally:
            self._depth -= 1
            self._lock.release()
