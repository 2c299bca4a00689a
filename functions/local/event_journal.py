"""The local broker's write-ahead journal: an accepted event is on disk before its 202.

A Knative Broker keeps what it accepted (its channel persists it); the local dispatcher's
queues are memory. So the dispatcher appends each accepted event here (SQLite, WAL,
synchronous=FULL: fsync'd) before it answers 202, removes it once every subscriber has
acknowledged it (or it was dead-lettered), and at start re-queues whatever is still here,
in the order it was accepted. A delivery interrupted by a crash is therefore made again:
at least once, as on a cluster; the functions' dedup keys make the second one a no-op.

Appends from concurrent requests are committed together (group commit: one fsync for
every event that arrived while the previous one ran), so the journal costs one fsync of
latency per request, not one per event in the queue ahead of it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from cloudevents.conversion import to_json
from cloudevents.http import CloudEvent, from_json

JOURNAL_FILE = "broker.db"
_SCHEMA = "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL)"


class EventJournal:
    """Accepted, not yet delivered events, kept in `path` (created 0600 under a 0700 dir)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
        self.path = path
        # One connection, used by one thread at a time (the lock): the dispatcher's writer.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def pending(self) -> list[tuple[int, CloudEvent]]:
        """What was accepted and not yet delivered, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT seq, event FROM events ORDER BY seq").fetchall()
        return [(int(seq), from_json(text)) for seq, text in rows]

    def commit(self, accepted: Iterable[CloudEvent], done: Iterable[int] = ()) -> list[int]:
        """In one fsync'd transaction: append `accepted` (their sequence numbers returned, in
        order) and forget the delivered `done`."""
        texts = [to_json(event).decode() for event in accepted]
        finished = [(seq,) for seq in done]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seqs = [
                    int(self._db.execute("INSERT INTO events (event) VALUES (?)", (t,)).lastrowid or 0) for t in texts
                ]
                self._db.executemany("DELETE FROM events WHERE seq = ?", finished)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return seqs

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
