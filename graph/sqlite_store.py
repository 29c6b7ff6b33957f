"""Embedded store: one SQLite file, zero set-up, for a single investigator's machine.

Nodes and edges live in two tables keyed like the Neo4j graph ((label, key) and (type,
source, target)); JSON holds properties; an FTS5 index over the schema's text fields serves
search. Writes go in one transaction per batch (a bulk ingest's batches in groups: see
grouped_commits), in WAL mode so readers are never blocked.

Hostile input: statement text is built only from constants and names graph.schema declares
(labels, relationship types, text fields); every value travels as a parameter, and a
search is quoted word by word (search_tokens keeps letters and digits only), so SQL or FTS5
syntax in user text is matched as words, never parsed.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from graph.limits import QueryTimeoutError, budget_seconds, check_deadline, deadline_passed
from graph.schema import (
    NODE_TYPES,
    Edge,
    Label,
    Node,
    NodeRef,
    Provenance,
    RelType,
    encode_props,
)
from graph.store import (
    Counts,
    EdgeRow,
    GraphStore,
    MissingNodeError,
    NodeFilter,
    NodeRow,
    StoreError,
    StoreRows,
    WriteStats,
    row_payload,
    search_tokens,
    store_rows,
)

_CHUNK = 5000  # (label, key) pairs per look-up: well under SQLite's variable limit
BULK_UPDATES = 20_000
"""Updates from which set_properties reads a kind's ids in one go and writes by id."""
HUB_FANOUT = 500
"""Neighbours read per node when a view expands it: beyond this a node is a hub, and a
view through it shows a slice (and says it is truncated)."""
RANKED_MATCHES = 1000
"""Full-text matches up to which results are ranked by relevance; above, newest first."""
PROGRESS_STEPS = 10_000
"""SQLite virtual-machine steps between two looks at the time budget (well under 1 ms)."""
PAGE_SIZE = 16_384
"""Bytes per page of a new database (SQLite's default is 4,096)."""
CACHE_KIB = 65_536
"""Page cache of a connection, in KiB."""
GROUPED_CACHE_KIB = 131_072
"""Page cache while upserts are grouped (an ingest), in KiB. At a million postings the
indexes outgrow CACHE_KIB: pages read back from the OS and dirty pages spilt before their
commit cost the writer a tenth more CPU (docs/benchmarks.md, "SQLite, fifth round")."""
_Method = TypeVar("_Method", bound=Callable[..., Any])


def _interruptible(method: _Method) -> _Method:
    """A read that the progress handler may interrupt: past the time budget, SQLite stops
    the statement and this answers QueryTimeoutError instead of 'interrupted'."""

    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        check_deadline()
        try:
            return method(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted" and deadline_passed():
                raise QueryTimeoutError(budget_seconds() or 0.0) from None
            raise

    return guarded  # type: ignore[return-value]


def _text_expression() -> str:
    """SQL that builds a node's searchable text from its schema-declared text fields."""
    cases = []
    EMPTY = "''"
    for node_type in NODE_TYPES.values():
        fields = " || ' ' || ".join(
            f"coalesce(json_extract(props, '$.{name}'), '')" for name in node_type.text_fields
        )
        cases.append(f"WHEN '{node_type.label}' THEN key || ' ' || {fields or EMPTY}")
    return "CASE label " + " ".join(cases) + " ELSE key END"


def _index_statements() -> list[str]:
    """Expression indexes for the properties the schema marks as indexed."""
    statements = []
    for node_type in NODE_TYPES.values():
        for name in node_type.indexed:
            statements.append(
                f"CREATE INDEX IF NOT EXISTS idx_{node_type.label.lower()}_{name} "
                f"ON nodes (json_extract(props, '$.{name}')) WHERE label = '{node_type.label}'"
            )
    return statements


_DDL = f"""
CREATE TABLE IF NOT EXISTS nodes (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    key TEXT NOT NULL,
    props TEXT NOT NULL,
    derived TEXT NOT NULL DEFAULT '{{}}',
    hash TEXT,
    source TEXT,
    source_record TEXT,
    first_seen TEXT,
    last_seen TEXT,
    ingested_at TEXT,
    text TEXT GENERATED ALWAYS AS ({_text_expression()}) VIRTUAL,
    UNIQUE (label, key)
);
CREATE INDEX IF NOT EXISTS nodes_key ON nodes (key);
CREATE TABLE IF NOT EXISTS edges (
    id INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    src INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    dst INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    props TEXT NOT NULL,
    hash TEXT,
    source TEXT,
    source_record TEXT,
    first_seen TEXT,
    last_seen TEXT,
    ingested_at TEXT,
    UNIQUE (type, src, dst)
);
DROP INDEX IF EXISTS edges_src;
DROP INDEX IF EXISTS edges_dst;
CREATE INDEX IF NOT EXISTS edges_src_dst ON edges (src, dst, type);
CREATE INDEX IF NOT EXISTS edges_dst_src ON edges (dst, src, type);
CREATE VIRTUAL TABLE IF NOT EXISTS node_fts USING fts5 (
    text, content = 'nodes', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2',
    detail = none, columnsize = 0
);
DROP TRIGGER IF EXISTS nodes_fts_insert;
CREATE TRIGGER IF NOT EXISTS nodes_fts_delete AFTER DELETE ON nodes BEGIN
    INSERT INTO node_fts (node_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER IF NOT EXISTS nodes_fts_update AFTER UPDATE OF props ON nodes
WHEN old.props IS NOT new.props BEGIN
    INSERT INTO node_fts (node_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO node_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    seq INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (collection, key)
);
"""

_NODE_COLUMNS = (
    "id, label, key, props, derived, source, source_record, first_seen, last_seen, ingested_at"
)

_WIDEN_SEEN = """
    first_seen = CASE WHEN ?1 IS NOT NULL AND (first_seen IS NULL OR ?1 < first_seen)
                 THEN ?1 ELSE first_seen END,
    last_seen = CASE WHEN ?2 IS NOT NULL AND (last_seen IS NULL OR ?2 > last_seen)
                THEN ?2 ELSE last_seen END"""
"""An earlier first sighting or a later last sighting (?1, ?2) widens the stored ones."""

_UPDATE = (
    "UPDATE {table} SET props = json_patch(props, ?3), hash = ?4," + _WIDEN_SEEN
    + ", ingested_at = ?5 WHERE id = ?6"
)

_UPDATE_SEEN = "UPDATE {table} SET" + _WIDEN_SEEN + ", ingested_at = ?3 WHERE id = ?4"
"""_UPDATE for a row whose properties are those stored (same digest), only seen again: the
same patch applied twice is the same object, so props, its expression indexes and the text
index stay as they are. A re-seen contact's usual update (a quarter of an ingest's rows)."""


_PAYLOAD_COLUMNS = (
    "props", "hash", "source", "source_record", "first_seen", "last_seen", "ingested_at",
)  # fmt: skip


def _changed(have: tuple[Any, ...], row: tuple[Any, ...]) -> bool:
    """New properties, an earlier first sighting or a later last sighting (`row` ends with
    props, hash, source, source_record, first_seen, last_seen, ingested_at)."""
    _, old_hash, first, last = have
    new_first, new_last = row[-3], row[-2]
    return (
        old_hash != row[-6]
        or (new_first is not None and (first is None or new_first < first))
        or (new_last is not None and (last is None or new_last > last))
    )


def _update_row(row_id: int, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """(props, hash, source, source_record, first, last, ingested) -> _UPDATE's parameters."""
    props, new_hash, _source, _record, first, last, ingested = values
    return (first, last, props, new_hash, ingested, row_id)


def _seen_row(row_id: int, values: tuple[Any, ...]) -> tuple[Any, ...]:
    """The same values -> _UPDATE_SEEN's parameters."""
    return (values[-3], values[-2], values[-1], row_id)


def _fts_query(text: str) -> str:
    """Quote each word so user text is matched literally, never parsed as FTS syntax."""
    return " ".join(f'"{word}"' for word in search_tokens(text))


class SQLiteStore(GraphStore):
    """The embedded default store (PREXUS_DB, default ./prexus.db)."""

    backend = "sqlite"

    def __init__(self, path: str | Path = "prexus.db") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        self._lock = _ConnectionLock(self)
        self._group_size = 0  # upserts per commit within grouped_commits; 0: no group
        self._group_count = 0  # upserts in the open group transaction
        self._group_thread: int | None = None  # the thread whose group transaction is open
        # 16 KiB pages for a new database (an existing one keeps its own): a posting's
        # rows and index entries span fewer pages, and bulk ingest writes about 7% less
        self._db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self._db.execute("PRAGMA temp_store = MEMORY")
        # under a time budget (graph.limits) a statement past the deadline is interrupted
        self._db.set_progress_handler(deadline_passed, PROGRESS_STEPS)
        self.ensure_schema()
        self._watcher_lock = threading.Lock()
        self._watcher = (  # never writes: only change_stamp reads through it
            None if self.path == ":memory:"
            else sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # --- lifecycle -------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        with self._lock:
            self._db.executescript(_DDL)
            for statement in _index_statements():
                self._db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._commit_group()
            self._db.close()
        if self._watcher is not None:
            with self._watcher_lock:
                self._watcher.close()

    def backup(self, target: str | Path) -> None:
        """A consistent copy of the whole database, taken while readers and writers go on
        (SQLite's online backup), to a file that opens as a store of its own."""
        with self._lock, sqlite3.connect(str(target)) as copy:
            self._db.backup(copy)

    def restore(self, source: str | Path) -> None:
        """Replace this store's contents with a backup's, in one step."""
        if not Path(source).is_file():
            raise StoreError(f"no backup at {source}")
        with self._lock, sqlite3.connect(f"file:{source}?mode=ro", uri=True) as backup:
            if _page_size(backup) == _page_size(self._db):
                backup.backup(self._db)
                return
            # SQLite cannot copy into a WAL database with another page size (a backup made
            # before PAGE_SIZE changed): stage the copy at this one's page size first
            with tempfile.TemporaryDirectory() as folder:
                staged = sqlite3.connect(Path(folder) / "staged.db", isolation_level=None)
                try:
                    backup.backup(staged)
                    staged.execute("PRAGMA journal_mode = DELETE")
                    staged.execute(f"PRAGMA page_size = {_page_size(self._db)}")
                    staged.execute("VACUUM")
                    staged.backup(self._db)
                finally:
                    staged.close()

    def clear(self) -> None:
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM edges")
            self._db.execute("DELETE FROM nodes")
            self._db.execute("DELETE FROM meta")
            self._db.execute("DELETE FROM documents")

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    @contextmanager
    def _bulk_write(self) -> Iterator[None]:
        """Around a batch upsert (holding the lock, outside its transaction): no foreign-key
        checks, since every edge's endpoints were looked up or created by the batch itself
        (a missing one raises MissingNodeError first), and no progress callback, which
        takes the GIL back from the ingest's other threads every 10,000 steps; upserts run
        under no time budget. Together about a tenth of an ingest's SQLite time."""
        self._db.execute("PRAGMA foreign_keys = OFF")
        self._db.set_progress_handler(None, 0)
        try:
            yield
        finally:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.set_progress_handler(deadline_passed, PROGRESS_STEPS)

    # --- writes ----------------------------------------------------------------------------
    @contextmanager
    def grouped_commits(self, upserts: int) -> Iterator[None]:
        """Upserts inside share a transaction, `upserts` of them at a time, each in a
        savepoint of its own. Why: a commit copies every page it changed to the write-ahead
        log and then into the database, and at a million postings a batch's index entries
        (an edge's target, a contact's last sighting) fall on pages all over the file: a
        commit per 2,000-posting batch wrote 54 GB for a 2.4 GB database.

        Another thread that takes the connection meanwhile commits the group first (see
        _ConnectionLock), so it never reads or writes inside this one's transaction.
        Meanwhile the page cache is GROUPED_CACHE_KIB, so a group's pages stay in memory
        until its commit."""
        with self._lock:
            self._group_size, self._group_count = max(1, upserts), 0
            self._db.execute(f"PRAGMA cache_size = -{GROUPED_CACHE_KIB}")
        try:
            yield
        finally:
            with self._lock:
                self._commit_group()
                self._group_size = 0
                with suppress(sqlite3.ProgrammingError):  # closed inside the group
                    self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")

    def _commit_group(self) -> None:
        """Commit the group's open transaction, if any, and put back foreign-key checks,
        which SQLite cannot switch inside a transaction."""
        if self._group_thread is None:
            return
        self._group_thread, self._group_count = None, 0
        if self._db.in_transaction:  # an error may have rolled it back already
            self._db.execute("COMMIT")
        self._db.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def _batch_transaction(self) -> Iterator[None]:
        """A transaction of its own or, within grouped_commits, a savepoint in the group's
        transaction, which commits once it holds its number of upserts."""
        if not self._group_size:
            with self._transaction():
                yield
            return
        if self._group_thread is None:
            self._db.execute("BEGIN IMMEDIATE")
            self._group_thread = threading.get_ident()
        with _Savepoint(self._db):
            yield
        self._group_count += 1
        if self._group_count >= self._group_size:
            self._commit_group()

    def upsert(self, nodes: Sequence[Node], edges: Sequence[Edge] = ()) -> WriteStats:
        return self.upsert_rows(store_rows(nodes, edges))

    def upsert_rows(self, rows: StoreRows) -> WriteStats:
        """Write rows as they come: ingest workers merged and encoded them already."""
        stats = WriteStats()
        with self._lock, self._bulk_write(), self._batch_transaction():
            self._node_ids: dict[tuple[str, str], int] = {}
            created, updated = self._write_nodes(rows.nodes, stats)
            stats.nodes_created, stats.nodes_updated = created, updated
            stats.nodes_unchanged = len(rows.nodes) - created - updated
            if rows.edges:
                created, updated = self._write_edges(rows.edges, stats)
                stats.edges_created, stats.edges_updated = created, updated
                stats.edges_unchanged = len(rows.edges) - created - updated
        return stats

    def _write_nodes(self, nodes: Sequence[NodeRow], stats: WriteStats) -> tuple[int, int]:
        """Look the batch up once, then INSERT the new rows (with ids assigned here, so
        edges need no second look-up) and UPDATE only the ones that changed."""
        existing = self._existing_nodes([row[:2] for row in nodes])
        next_id = self._db.execute("SELECT coalesce(max(id), 0) + 1 FROM nodes").fetchone()[0]
        self._first_new_id = next_id
        written = self._insert_or_update("nodes", ("label", "key"), nodes, existing, stats, next_id)
        if written[0]:
            self._index_text(self._first_new_id)
        return written

    def _index_text(self, first_id: int) -> None:
        """Add the nodes from `first_id` on to the full-text index, in one statement.

        Not by an INSERT trigger: a trigger writes FTS5 from within each row's statement,
        and FTS5 then flushes its pending terms row by row. That made indexing about 80% of the
        cost of inserting a posting; one INSERT ... SELECT per batch takes a seventh of it.
        Deletes and changed text still go through the triggers in _DDL.
        """
        self._db.execute(
            "INSERT INTO node_fts (rowid, text) SELECT id, text FROM nodes WHERE id >= ?",
            (first_id,),
        )

    def _write_edges(self, edges: Sequence[EdgeRow], stats: WriteStats) -> tuple[int, int]:
        """Edges are looked up only between nodes that existed before this batch: one with
        an endpoint created here cannot be stored yet (a new posting's edges, all of them on
        a first ingest), and deleting a node deletes its edges."""
        find = self._node_ids.get
        rows: list[Any] = []
        elsewhere: list[int] = []  # edges with an endpoint not in this batch: looked up below
        for edge in edges:
            src, dst = find((edge[1], edge[2])), find((edge[3], edge[4]))
            if src is None or dst is None:
                elsewhere.append(len(rows))
                rows.append(None)
            else:
                rows.append((edge[0], src, dst, *edge[5:]))
        if elsewhere:
            wanted = [edges[i][at : at + 2] for i in elsewhere for at in (1, 3)]
            ends = {NodeRef(Label(label), key) for label, key in wanted}
            self._node_ids.update(
                ((ref.label, ref.key), row_id) for ref, row_id in self._ids(ends).items()
            )
            for i in elsewhere:
                edge = edges[i]
                src, dst = find((edge[1], edge[2])), find((edge[3], edge[4]))
                if src is None or dst is None:
                    missing = ":".join(edge[1:3] if src is None else edge[3:5])
                    raise MissingNodeError(
                        f"{edge[0]} edge {edge[1]}:{edge[2]} -> {edge[3]}:{edge[4]}: "
                        f"no node {missing}"
                    )
                rows[i] = (edge[0], src, dst, *edge[5:])
        first_new = self._first_new_id
        older = [row[:3] for row in rows if row[1] < first_new and row[2] < first_new]
        existing = self._existing_edges(older) if older else {}
        return self._insert_or_update("edges", ("type", "src", "dst"), rows, existing, stats)

    def _insert_or_update(
        self,
        table: str,
        head: tuple[str, ...],
        rows: Sequence[tuple[Any, ...]],
        existing: dict[Any, tuple[Any, ...]],
        stats: WriteStats,
        first_id: int | None = None,
    ) -> tuple[int, int]:
        """INSERT rows not stored yet, UPDATE those that changed; each row is the head
        columns (its identity), then props, hash and provenance, its first column the kind
        counted. With `first_id` new rows get ids from it on, recorded in `_node_ids`.

        Per row only a dict look-up (none on a first ingest, when nothing exists): the
        writer runs in the ingesting process, which all rows pass through."""
        width = len(head)
        inserts: Sequence[tuple[Any, ...]] = rows
        changed: list[tuple[int, tuple[Any, ...]]] = []
        seen: list[tuple[int, tuple[Any, ...]]] = []  # same properties, new sighting
        if existing:
            inserts = []
            for row in rows:
                have = existing.get(row[:width])
                if have is None:
                    inserts.append(row)
                elif _changed(have, row):
                    (seen if have[1] == row[-6] else changed).append((have[0], row))
        for kind, count in Counter([row[0] for row in inserts]).items():
            stats.count(kind, count, 0)
        for kind, count in Counter([row[0] for _, row in changed + seen]).items():
            stats.count(kind, 0, count)
        columns = head + _PAYLOAD_COLUMNS
        if first_id is not None:
            ids = range(first_id, first_id + len(inserts))
            self._node_ids.update(zip([row[:width] for row in inserts], ids, strict=True))
            inserts = [(row_id, *row) for row_id, row in zip(ids, inserts, strict=True)]
            columns = ("id", *columns)
        self._db.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            inserts,
        )
        self._db.executemany(
            _UPDATE.format(table=table), [_update_row(row_id, row[-7:]) for row_id, row in changed]
        )
        self._db.executemany(
            _UPDATE_SEEN.format(table=table), [_seen_row(row_id, row) for row_id, row in seen]
        )
        return len(inserts), len(changed) + len(seen)

    def _existing_nodes(
        self, refs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[Any, ...]]:
        """(id, hash, first_seen, last_seen) of the (label, key) pairs already stored."""
        found: dict[tuple[str, str], tuple[Any, ...]] = {}
        for start in range(0, len(refs), _CHUNK):
            chunk = refs[start : start + _CHUNK]
            values = ",".join("(?, ?)" for _ in chunk)
            params = [v for ident in chunk for v in ident]
            for label, key, *state in self._db.execute(
                f"WITH wanted (label, key) AS (VALUES {values}) "
                "SELECT n.label, n.key, n.id, n.hash, n.first_seen, n.last_seen FROM wanted "
                "JOIN nodes n ON n.label = wanted.label AND n.key = wanted.key",
                params,
            ):
                found[label, key] = tuple(state)
                self._node_ids[label, key] = state[0]
        return found

    def _existing_edges(
        self, idents: Sequence[tuple[str, int, int]]
    ) -> dict[tuple[str, int, int], tuple[Any, ...]]:
        found: dict[tuple[str, int, int], tuple[Any, ...]] = {}
        for start in range(0, len(idents), _CHUNK):
            chunk = idents[start : start + _CHUNK]
            values = ",".join("(?, ?, ?)" for _ in chunk)
            params = [v for ident in chunk for v in ident]
            for rel, src, dst, *state in self._db.execute(
                f"WITH wanted (type, src, dst) AS (VALUES {values}) "
                "SELECT e.type, e.src, e.dst, e.id, e.hash, e.first_seen, e.last_seen "
                "FROM wanted JOIN edges e ON e.type = wanted.type AND e.src = wanted.src "
                "AND e.dst = wanted.dst",
                params,
            ):
                found[(rel, src, dst)] = tuple(state)
        return found

    def _ids(self, refs: Iterable[NodeRef]) -> dict[NodeRef, int]:
        """Row ids of existing nodes, looked up in chunks through a VALUES join."""
        found: dict[NodeRef, int] = {}
        pending = list(refs)
        for start in range(0, len(pending), _CHUNK):
            chunk = pending[start : start + _CHUNK]
            values = ",".join("(?, ?)" for _ in chunk)
            params = [v for ref in chunk for v in (str(ref.label), ref.key)]
            cursor = self._db.execute(
                f"WITH wanted (label, key) AS (VALUES {values}) "
                "SELECT nodes.id, nodes.label, nodes.key FROM wanted "
                "JOIN nodes ON nodes.label = wanted.label AND nodes.key = wanted.key",
                params,
            )
            for row_id, label, key in cursor:
                found[NodeRef(Label(label), key)] = row_id
        return found

    def set_properties(self, label: Label, updates: dict[str, dict[str, Any]]) -> int:
        """A large batch (a first clustering of a million postings) is looked up through
        one read of the kind's (label, key) index and written in row-id order: in key
        order each update touched a page at random."""
        if len(updates) >= BULK_UPDATES:
            with self._lock:
                ids = self._label_ids([label])
            found = sorted(
                (ids[str(label), key], encode_props(props))
                for key, props in updates.items()
                if (str(label), key) in ids
            )
            return self.set_properties_by_id((blob, row_id) for row_id, blob in found)
        rows = [
            {"label": str(label), "key": key, "derived": encode_props(props)}
            for key, props in updates.items()
        ]
        with self._lock, self._transaction():
            return self._db.executemany(
                "UPDATE nodes SET derived = json_patch(derived, :derived) "
                "WHERE label = :label AND key = :key",
                rows,
            ).rowcount

    def delete_edges(
        self, rel: RelType, source: Label | None = None, target: Label | None = None
    ) -> int:
        where, params = ["type = ?"], [str(rel)]
        for column, label in (("src", source), ("dst", target)):
            if label is not None:
                # "+" keeps the planner on the type index: probing (dst, src) for every pair
                # of actors was 42k x 42k look-ups, 300 s at 1M postings
                where.append(f"+{column} IN (SELECT id FROM nodes WHERE label = ?)")
                params.append(str(label))
        with self._lock, self._transaction():
            return self._db.execute(
                f"DELETE FROM edges WHERE {' AND '.join(where)}", params
            ).rowcount

    def replace_edges(self, rel: RelType, edges: Sequence[Edge]) -> int:
        """Rows are compared with what is stored (props digest and provenance) and only
        those that differ are deleted, updated or inserted, in one transaction: deleting and
        re-inserting a million MEMBER_OF edges through upsert was most of linking at 1M
        postings. The stored rows equal a fresh write's; only their row ids are kept."""
        payloads: dict[tuple[int, int], tuple[Any, ...]] = {}  # one encoding per props/prov
        with self._lock:
            ids = self._label_ids({e.label for edge in edges for e in (edge.source, edge.target)})
            wanted: dict[tuple[int, int], tuple[Any, ...]] = {}
            for edge in edges:
                src = ids.get((edge.source.label, edge.source.key))
                dst = ids.get((edge.target.label, edge.target.key))
                if src is None or dst is None:
                    missing = edge.source if src is None else edge.target
                    raise MissingNodeError(f"{rel} edge {edge.source} -> {missing}: no node")
                shared = (id(edge.props), id(edge.provenance))
                payload = payloads.get(shared)
                if payload is None:
                    payload = payloads[shared] = row_payload(edge.props, edge.provenance)
                wanted[(src, dst)] = payload
            stored = self._db.execute(
                f"SELECT src, dst, id, {', '.join(_PAYLOAD_COLUMNS[1:])} FROM edges WHERE type = ?",
                (str(rel),),
            ).fetchall()
            # one write time for all (one run's provenance): set in one statement, and rows
            # otherwise unchanged need no update of their own
            stamps = {payload[-1] for payload in payloads.values()}
            stamp = stamps.pop() if len(stamps) == 1 else None
            compared = 5 if stamp is not None else 6  # hash, source, record, seen[, ingested]
            deletes, updates = [], []
            for src, dst, row_id, *have in stored:
                payload = wanted.pop((src, dst), None)
                if payload is None:
                    deletes.append((row_id,))
                elif tuple(have[:compared]) != payload[1 : 1 + compared]:
                    updates.append((*payload, row_id))
            # in (src, dst) and row-id order: each index and table page is visited once
            inserts = [(str(rel), *ends, *payload) for ends, payload in sorted(wanted.items())]
            updates.sort(key=lambda row: row[-1])
            with self._transaction():
                self._db.executemany("DELETE FROM edges WHERE id = ?", deletes)
                if stamp is not None:
                    self._db.execute(
                        "UPDATE edges SET ingested_at = ?1 WHERE type = ?2 "
                        "AND ingested_at IS NOT ?1",
                        (stamp, str(rel)),
                    )
                self._db.executemany(
                    f"UPDATE edges SET {', '.join(f'{c} = ?' for c in _PAYLOAD_COLUMNS)} "
                    "WHERE id = ?",
                    updates,
                )
                columns = ("type", "src", "dst", *_PAYLOAD_COLUMNS)
                self._db.executemany(
                    f"INSERT INTO edges ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    inserts,
                )
        return len(edges)

    def _label_ids(self, labels: Iterable[Label]) -> dict[tuple[str, str], int]:
        """(label, key) -> row id of every node of these kinds, from the (label, key)
        index alone: one read instead of a look-up per node. Labels are StrEnums, so
        (ref.label, ref.key) finds its row here."""
        found: dict[tuple[str, str], int] = {}
        for label in labels:
            rows = self._db.execute("SELECT label, key, id FROM nodes WHERE label = ?", (label,))
            found.update(((lab, key), row_id) for lab, key, row_id in rows)
        return found

    def delete(self, ref: NodeRef) -> bool:
        with self._lock, self._transaction():
            cursor = self._db.execute(
                "DELETE FROM nodes WHERE label = ? AND key = ?", (str(ref.label), ref.key)
            )
            return cursor.rowcount > 0

    # --- reads -----------------------------------------------------------------------------
    @staticmethod
    def _node(row: Sequence[Any]) -> Node:
        _, label, key, props, derived, *prov = row
        merged = json.loads(props)
        if derived != "{}":
            merged.update(json.loads(derived))
        return Node(Label(label), key, merged, Provenance(*prov))

    @_interruptible
    def get_nodes(self, refs: Sequence[NodeRef]) -> list[Node]:
        with self._lock:
            ids = self._ids(refs)
            by_id = self._nodes_by_id(list(ids.values()))
        return [by_id[ids[ref]] for ref in refs if ref in ids]

    def _nodes_by_id(self, ids: Sequence[int]) -> dict[int, Node]:
        found: dict[int, Node] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT {_NODE_COLUMNS} FROM nodes WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = self._node(row)
        return found

    @_interruptible
    def _neighbour_refs(
        self, frontier: Sequence[NodeRef], flt: NodeFilter, limit: int
    ) -> tuple[list[NodeRef], bool]:
        """Each frontier node's neighbours, at most HUB_FANOUT of them per node, so a view
        through a country or a platform (one edge per posting) reads a bounded slice of it
        rather than the whole hub; the result is then in (label, key) order."""
        rel_sql, rel_params = "", []
        if flt.rel_types is not None:
            rel_sql = f" AND type IN ({','.join('?' * len(flt.rel_types))})"
            rel_params = [str(r) for r in sorted(flt.rel_types)]
        node_where, node_params = _node_conditions(flt)
        with self._lock:
            adjacent: dict[int, None] = {}
            sliced = False
            for row_id in self._ids(frontier).values():
                for sql in (
                    f"SELECT dst FROM edges WHERE src = ?{rel_sql} LIMIT ?",
                    f"SELECT src FROM edges WHERE dst = ?{rel_sql} LIMIT ?",
                ):
                    found = self._db.execute(sql, [row_id, *rel_params, HUB_FANOUT]).fetchall()
                    sliced = sliced or len(found) == HUB_FANOUT
                    adjacent.update((other, None) for (other,) in found)
            if not adjacent:
                return [], False
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS adjacent (id INTEGER PRIMARY KEY)")
            self._db.execute("DELETE FROM adjacent")
            self._db.executemany("INSERT INTO adjacent (id) VALUES (?)", [(i,) for i in adjacent])
            rows = self._db.execute(
                # CROSS JOIN keeps this order: look the few adjacent ids up, then sort them,
                # never walk the whole (label, key) index hoping to meet them
                f"SELECT n.label, n.key FROM adjacent CROSS JOIN nodes n ON n.id = adjacent.id "
                f"WHERE {node_where} ORDER BY n.label, n.key LIMIT ?",
                [*node_params, limit],
            ).fetchall()
        return [NodeRef(Label(label), key) for label, key in rows], sliced

    @_interruptible
    def edges_among(self, refs: Sequence[NodeRef]) -> list[Edge]:
        with self._lock:
            ids = self._ids(refs)
            if not ids:
                return []
            ref_by_id = {row_id: ref for ref, row_id in ids.items()}
            marks = ",".join("?" * len(ref_by_id))
            rows = self._db.execute(
                # from the source side: a view's hubs (countries, platforms, substances)
                # have thousands of edges coming in and a handful going out
                "SELECT type, src, dst, props, source, source_record, first_seen, last_seen, "
                f"ingested_at FROM edges INDEXED BY edges_src_dst WHERE src IN ({marks}) "
                f"AND +dst IN ({marks}) ORDER BY id",
                [*ref_by_id, *ref_by_id],
            ).fetchall()
        return [
            Edge(RelType(t), ref_by_id[s], ref_by_id[d], json.loads(p), Provenance(*prov))
            for t, s, d, p, *prov in rows
        ]

    @_interruptible
    def search(
        self, text: str, labels: Iterable[Label] | None = None, limit: int = 50, offset: int = 0
    ) -> list[Node]:
        label_list = [str(label) for label in labels] if labels else []
        label_sql = f" AND n.label IN ({','.join('?' * len(label_list))})" if label_list else ""
        query = _fts_query(text)
        with self._lock:
            exact = self._db.execute(
                f"SELECT {_NODE_COLUMNS.replace('id,', 'n.id,', 1)} FROM nodes n "
                f"WHERE n.key = ?{label_sql} ORDER BY n.label",
                [text.strip(), *label_list],
            ).fetchall()
            found = []
            if query:
                # ranking scores every match: worth it for a focused query, not for a word
                # in thousands of postings, where the newest matches come first instead
                # counted only as far as the cut: a common word matches 400k postings at 1M
                matches = self._db.execute(
                    "SELECT count(*) FROM (SELECT 1 FROM node_fts WHERE node_fts MATCH ? "
                    "LIMIT ?)",
                    [query, RANKED_MATCHES + 1],
                ).fetchone()[0]
                ranked = matches <= RANKED_MATCHES
                order = "node_fts.rank, n.id" if ranked else "node_fts.rowid DESC"
                columns = ", ".join(f"n.{c.strip()}" for c in _NODE_COLUMNS.split(","))
                found = self._db.execute(
                    f"SELECT {columns} FROM node_fts JOIN nodes n ON n.id = node_fts.rowid "
                    f"WHERE node_fts MATCH ?{label_sql} ORDER BY {order} LIMIT ? OFFSET ?",
                    [query, *label_list, limit + len(exact) + offset, 0],
                ).fetchall()
        rows = list({row[0]: row for row in [*exact, *found]}.values())
        return [self._node(row) for row in rows[offset : offset + limit]]

    @_interruptible
    def degree(self, ref: NodeRef) -> int:
        with self._lock:
            ids = self._ids([ref])
            if not ids:
                return 0
            row_id = ids[ref]
            return self._db.execute(
                "SELECT (SELECT count(*) FROM edges WHERE src = ?) + "
                "(SELECT count(*) FROM edges WHERE dst = ?)",
                (row_id, row_id),
            ).fetchone()[0]

    @_interruptible
    def search_count(self, text: str, labels: Iterable[Label] | None = None) -> int:
        query = _fts_query(text)
        label_list = [str(label) for label in labels] if labels else []
        with self._lock:
            exact = self._db.execute(
                "SELECT count(*) FROM nodes n WHERE n.key = ?"
                + (f" AND n.label IN ({','.join('?' * len(label_list))})" if label_list else "")
                + (
                    " AND n.id NOT IN (SELECT rowid FROM node_fts WHERE node_fts MATCH ?)"
                    if query
                    else ""
                ),
                [text.strip(), *label_list, *([query] if query else [])],
            ).fetchone()[0]
            if not query:
                return exact
            if not label_list:
                return (
                    exact
                    + self._db.execute(
                        "SELECT count(*) FROM node_fts WHERE node_fts MATCH ?", [query]
                    ).fetchone()[0]
                )
            return (
                exact
                + self._db.execute(
                    "SELECT count(*) FROM node_fts JOIN nodes n ON n.id = node_fts.rowid "
                    f"WHERE node_fts MATCH ? AND n.label IN ({','.join('?' * len(label_list))})",
                    [query, *label_list],
                ).fetchone()[0]
            )

    def iter_nodes(self, label: Label | None = None) -> Iterator[Node]:
        sql = f"SELECT {_NODE_COLUMNS} FROM nodes"
        params: list[str] = []
        if label is not None:
            sql += " WHERE label = ?"
            params.append(str(label))
        reader = sqlite3.connect(self.path, check_same_thread=False)
        try:
            for row in reader.execute(sql + " ORDER BY id", params):
                yield self._node(row)
        finally:
            reader.close()

    def iter_edges(self, rel: RelType | None = None) -> Iterator[Edge]:
        sql = (
            "SELECT e.type, s.label, s.key, d.label, d.key, e.props, e.source, e.source_record, "
            "e.first_seen, e.last_seen, e.ingested_at FROM edges e "
            "JOIN nodes s ON s.id = e.src JOIN nodes d ON d.id = e.dst"
        )
        params: list[str] = []
        if rel is not None:
            sql += " WHERE e.type = ?"
            params.append(str(rel))
        reader = sqlite3.connect(self.path, check_same_thread=False)
        try:
            for t, sl, sk, dl, dk, props, *prov in reader.execute(sql + " ORDER BY e.id", params):
                yield Edge(
                    RelType(t),
                    NodeRef(Label(sl), sk),
                    NodeRef(Label(dl), dk),
                    json.loads(props),
                    Provenance(*prov),
                )
        finally:
            reader.close()

    def edge_list(
        self, rel_types: Iterable[RelType] | None = None
    ) -> Iterator[tuple[NodeRef, NodeRef, RelType, float | None]]:
        types = [str(r) for r in rel_types] if rel_types is not None else None
        where = f" WHERE e.type IN ({','.join('?' * len(types))})" if types else ""
        if types == []:
            return
        reader = sqlite3.connect(self.path, check_same_thread=False)
        refs: dict[int, NodeRef] = {}  # by row id: one NodeRef per node, cheap to look up
        rels = {str(r): r for r in RelType}
        try:
            rows = reader.execute(
                "SELECT e.type, e.src, s.label, s.key, e.dst, d.label, d.key, CASE WHEN "
                "instr(e.props, '\"weight\"') THEN json_extract(e.props, '$.weight') END "
                "FROM edges e JOIN nodes s ON s.id = e.src "
                f"JOIN nodes d ON d.id = e.dst{where}",
                types or [],
            )
            for rel, src, sl, sk, dst, dl, dk, weight in rows:
                source = refs.get(src) or refs.setdefault(src, NodeRef(Label(sl), sk))
                target = refs.get(dst) or refs.setdefault(dst, NodeRef(Label(dl), dk))
                yield source, target, rels[rel], weight
        finally:
            reader.close()

    def edge_id_rows(
        self, rel_types: Iterable[RelType] | None = None, chunk: int = 50_000
    ) -> Iterator[list[tuple[int, int, Any]]]:
        """(source id, target id, weight) of every edge of these types, `chunk` rows at a
        time: edge_list for bulk readers (the analysis projection), without two NodeRefs per
        edge, and reading the weight only from edges that have one. `node_id_rows` says
        what the ids are. It scans the table rather than the type index: for most of the
        edges, as such readers want, half the time of a look-up per edge."""
        types = [str(r) for r in rel_types] if rel_types is not None else None
        if types == []:
            return
        where = f" WHERE type IN ({','.join('?' * len(types))})" if types else ""
        reader = sqlite3.connect(self.path, check_same_thread=False)
        try:
            cursor = reader.execute(
                "SELECT src, dst, CASE WHEN instr(props, '\"weight\"') THEN "
                f"json_extract(props, '$.weight') END FROM edges NOT INDEXED{where}",
                types or [],
            )
            while rows := cursor.fetchmany(chunk):
                yield rows
        finally:
            reader.close()

    def node_values(self, label: Label, names: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """One scan in id order (iter_nodes' order) that extracts only the named properties,
        an analysis result in `derived` overriding the ingested one as in a whole node:
        a tenth of the time of decoding whole postings. JSON true/false come as 1/0."""
        paths = [f"$.{name}" for name in names]
        merged = "".join(
            f", CASE WHEN derived != '{{}}' AND json_type(derived, ?{n}) IS NOT NULL "
            f"THEN json_extract(derived, ?{n}) ELSE json_extract(props, ?{n}) END"
            for n in range(2, len(paths) + 2)
        )
        yield from self._read_rows(
            f"SELECT key, first_seen{merged} FROM nodes NOT INDEXED WHERE label = ?1 ORDER BY id",
            [str(label), *paths],
        )

    def edge_values(self, rel: RelType, names: Sequence[str] = ()) -> Iterator[tuple[Any, ...]]:
        """One query, in id order (iter_edges' order), extracting only the named properties
        (JSON true/false come as 1/0) and no provenance."""
        paths = [f"$.{name}" for name in names]
        extracted = "".join(f", json_extract(e.props, ?{n})" for n in range(2, len(paths) + 2))
        yield from self._read_rows(
            f"SELECT s.label, s.key, d.label, d.key{extracted} FROM edges e "
            "JOIN nodes s ON s.id = e.src JOIN nodes d ON d.id = e.dst WHERE e.type = ?1 "
            "ORDER BY e.id",
            [str(rel), *paths],
        )

    def _read_rows(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows of a bulk read on a connection of its own, so writes may go on meanwhile."""
        reader = sqlite3.connect(self.path, check_same_thread=False)
        try:
            cursor = reader.execute(sql, params)
            while rows := cursor.fetchmany(50_000):
                yield from rows
        finally:
            reader.close()

    def set_properties_by_id(self, rows: Iterable[tuple[str, int]]) -> int:
        """set_properties for bulk writers that have row ids (from `node_id_rows`) and
        encode each (JSON object, id) themselves, canonically: half the time of a look-up
        by label and key plus encoding, which is most of a million-node analysis write."""
        with self._lock, self._transaction():
            return self._db.executemany(
                "UPDATE nodes SET derived = json_patch(derived, ?) WHERE id = ?", rows
            ).rowcount

    def node_id_rows(self) -> list[tuple[int, str, str]]:
        """(id, label, key) of every node, to read `edge_id_rows` with."""
        reader = sqlite3.connect(self.path, check_same_thread=False)
        try:
            return reader.execute("SELECT id, label, key FROM nodes").fetchall()
        finally:
            reader.close()

    def counts(self) -> Counts:
        with self._lock:
            nodes = dict(self._db.execute("SELECT label, count(*) FROM nodes GROUP BY label"))
            edges = dict(self._db.execute("SELECT type, count(*) FROM edges GROUP BY type"))
        return Counts(nodes, edges)

    def edge_counts_by_target(self, rel: RelType) -> dict[NodeRef, int]:
        """One GROUP BY over the type's slice of the (type, src, dst) index: a second at 1M
        postings, where the generic pass builds a million NodeRefs first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT n.label, n.key, counted.edges FROM (SELECT dst, count(*) AS edges "
                "FROM edges WHERE type = ? GROUP BY dst) AS counted "
                "JOIN nodes n ON n.id = counted.dst",
                [str(rel)],
            ).fetchall()
        return {NodeRef(Label(label), key): count for label, key, count in rows}

    def linked(
        self, refs: Sequence[NodeRef], rel: RelType, *, incoming: bool = False
    ) -> dict[NodeRef, list[NodeRef]]:
        """Through the index that starts at the refs' end: milliseconds for a cluster's
        members and their contacts, where the generic pass reads every edge of the type."""
        near, far = ("dst", "src") if incoming else ("src", "dst")
        found: dict[NodeRef, list[NodeRef]] = {}
        with self._lock:
            ref_by_id = {row_id: ref for ref, row_id in self._ids(refs).items()}
            ids = list(ref_by_id)
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                rows = self._db.execute(
                    f"SELECT e.{near}, n.label, n.key FROM edges e INDEXED BY edges_{near}_{far} "
                    f"JOIN nodes n ON n.id = e.{far} "
                    f"WHERE e.{near} IN ({','.join('?' * len(chunk))}) AND e.type = ?",
                    [*chunk, str(rel)],
                )
                for row_id, label, key in rows:
                    found.setdefault(ref_by_id[row_id], []).append(NodeRef(Label(label), key))
        return found

    def change_stamp(self) -> int | None:
        """SQLite's data_version as a connection that never writes sees it: it moves on each
        commit that changes the file, by this store or any other connection or process, and
        not on the temporary tables reads use. Microseconds, where counts() reads every row
        (half a second of CPU at 1M postings). None for an in-memory database, which no
        second connection can watch."""
        if self._watcher is None:
            return None
        with self._watcher_lock:
            return self._watcher.execute("PRAGMA data_version").fetchone()[0]

    def put_meta(self, name: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, json.dumps(value, sort_keys=True)),
            )

    def get_meta(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    # --- workspace documents ---------------------------------------------------------------
    def put_document(self, collection: str, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO documents (collection, key, body) VALUES (?, ?, ?) "
                "ON CONFLICT (collection, key) DO UPDATE SET body = excluded.body",
                (collection, key, json.dumps(value, sort_keys=True)),
            )

    def get_document(self, collection: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM documents WHERE collection = ? AND key = ?", (collection, key)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def list_documents(
        self, collection: str, *, limit: int | None = None, offset: int = 0,
        newest_first: bool = False,
    ) -> tuple[int, list[dict[str, Any]]]:
        order = "DESC" if newest_first else "ASC"
        with self._lock:
            total = self._db.execute(
                "SELECT count(*) FROM documents WHERE collection = ?", (collection,)
            ).fetchone()[0]
            rows = self._db.execute(
                f"SELECT body FROM documents WHERE collection = ? ORDER BY seq {order} "
                "LIMIT ? OFFSET ?",
                (collection, -1 if limit is None else limit, offset),
            ).fetchall()
        return total, [json.loads(body) for (body,) in rows]

    def delete_document(self, collection: str, key: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM documents WHERE collection = ? AND key = ?", (collection, key)
            )
        return cursor.rowcount > 0


def _node_conditions(flt: NodeFilter) -> tuple[str, list[str]]:
    """SQL for the label and date-window parts of a filter (dates compare as ISO text)."""
    where, params = ["1 = 1"], []
    if flt.labels is not None:
        where.append(f"n.label IN ({','.join('?' * len(flt.labels))})")
        params.extend(str(label) for label in sorted(flt.labels))
    if flt.until:
        where.append("(n.first_seen IS NULL OR substr(n.first_seen, 1, ?) <= ?)")
        params.extend([str(len(flt.until)), flt.until])
    if flt.since:
        where.append("(n.last_seen IS NULL OR n.last_seen >= ?)")
        params.append(flt.since)
    return " AND ".join(where), params


def _page_size(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA page_size").fetchone()[0])


class _Savepoint:
    """SAVEPOINT ... RELEASE, or on any error ROLLBACK TO it: a batch within a longer
    transaction lands whole or not at all."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("SAVEPOINT batch")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None and self._db.in_transaction:
            self._db.execute("ROLLBACK TO batch")
        if self._db.in_transaction:
            self._db.execute("RELEASE batch")


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error, so a batch lands whole; within
    a transaction already open (a group of upserts, on its own thread), a savepoint."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._nested: _Savepoint | None = None

    def __enter__(self) -> None:
        if self._db.in_transaction:
            self._nested = _Savepoint(self._db)
            self._nested.__enter__()
        else:
            self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._nested is not None:
            self._nested.__exit__(exc_type, exc, tb)
        elif exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")


class _ConnectionLock:
    """The store's one connection, for one thread at a time (reentrant). A thread that
    takes it while another thread's group of upserts holds a transaction open commits
    that group first: its reads then see only committed rows, and its writes are its own."""

    def __init__(self, store: SQLiteStore) -> None:
        self._lock = threading.RLock()
        self._store = store

    def __enter__(self) -> None:
        self._lock.acquire()
        store = self._store
        if store._group_thread not in (None, threading.get_ident()):
            try:
                store._commit_group()
            except BaseException:
                self._lock.release()
                raise

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._lock.release()
