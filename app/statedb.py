"""The app's own SQLite database: API keys, page sessions and the audit trail.

Why apart from the graph: it must work the same whichever graph backend is used (SQLite or
Neo4j), and keys and the audit trail must survive a graph being cleared or restored.

One connection per process, guarded by a lock: the server touches it from the event loop
(authentication, audit) and from worker threads (admin endpoints). Other processes (the
CLI adding a key while the server runs) share the file through SQLite's own locking.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MEMORY = ":memory:"

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name
    ON api_keys(name) WHERE revoked_at IS NULL;

CREATE TABLE IF NOT EXISTS sessions (
    token_hash  TEXT PRIMARY KEY,
    key_id      INTEGER NOT NULL REFERENCES api_keys(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS audit (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    role        TEXT,
    client      TEXT,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    params      TEXT NOT NULL,
    status      INTEGER NOT NULL,
    results     INTEGER,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_actor ON audit(actor, seq);
CREATE INDEX IF NOT EXISTS audit_path ON audit(path, seq);

-- Append-only: the app never changes or deletes an entry, and SQLite refuses to. Someone
-- with the file can drop these triggers; the hash chain is what shows that they did.
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""


class StateDB:
    """The connection and its lock; `transaction()` for writes that must see a consistent
    state (the audit chain's head, a key's uniqueness)."""

    def __init__(self, path: Path | str = MEMORY) -> None:
        self.path = str(path)
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=10
        )
        self._conn.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        with self.lock:
            if self.path != MEMORY:
                self._conn.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a commit costs no fsync (an audit entry per request stays
                # cheap); a power cut may lose the last entries but never corrupts the file
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(SCHEMA)

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self._conn.execute(sql, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: takes the write lock first, so two processes appending to the
        audit chain cannot both read the same head."""
        with self.lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self._conn.close()
