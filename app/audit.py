"""The audit trail: who read or changed what, when, with which parameters and how many results.

Append-only and hash-chained: each entry's `hash` is SHA-256 of the previous entry's hash
followed by the entry itself as canonical JSON (sorted keys, no spaces), starting from 64
zeros. Changing, inserting or deleting an entry breaks the chain from that entry on, and
`verify()` names the first one that no longer fits. Deleting entries off the end leaves a
shorter chain that still fits: record the head (`verify()` gives it) somewhere else now and
then, and compare.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass
from typing import Any

from app.keys import iso, utc_now
from app.statedb import StateDB

GENESIS = "0" * 64
FIELDS = ("seq", "at", "actor", "role", "client", "method", "path", "params", "status",
          "results")  # fmt: skip
"""What each entry's hash covers (with the previous hash in front)."""
MAX_PAGE = 1000


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    body = canonical_json({name: entry[name] for name in FIELDS})
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """The outcome of checking the chain; `broken_seq` names the first entry that fails."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_chain(entries: Iterable[dict[str, Any]]) -> AuditCheck:
    """Check entries in order (from the database or an export): consecutive seq from 1, each
    `prev_hash` the previous `hash`, each `hash` recomputed from the entry."""
    expected_seq, prev, checked = 1, GENESIS, 0
    for entry in entries:
        seq = entry["seq"]
        problem = None
        if seq != expected_seq:
            problem = (
                f"entry {expected_seq} is missing (next is {seq})"
                if seq > expected_seq
                else f"entry {seq} is out of order (expected {expected_seq})"
            )
            seq = expected_seq
        elif entry["prev_hash"] != prev:
            problem = f"entry {seq} does not follow entry {seq - 1} (prev_hash differs)"
        elif entry_hash(prev, entry) != entry["hash"]:
            problem = f"entry {seq} was altered (its hash does not match its contents)"
        if problem:
            return AuditCheck(False, checked, expected_seq - 1, prev, seq, problem)
        prev, expected_seq, checked = entry["hash"], seq + 1, checked + 1
    return AuditCheck(True, checked, expected_seq - 1, prev)


def _entry(row: Any) -> dict[str, Any]:
    entry = dict(row)
    with suppress(json.JSONDecodeError):  # edited by hand: kept as text; verify names it
        entry["params"] = json.loads(entry["params"])
    return entry


class AuditLog:
    """Append entries; read them back by path prefix and actor; check and export the chain."""

    def __init__(self, db: StateDB) -> None:
        self.db = db

    def append(
        self,
        *,
        actor: str,
        role: str | None,
        method: str,
        path: str,
        params: dict[str, Any],
        status: int,
        results: int | None = None,
        client: str | None = None,
    ) -> int:
        """Record one call; returns its seq. Takes the database's write lock so that two
        processes cannot fork the chain."""
        entry: dict[str, Any] = {
            "at": iso(utc_now()), "actor": actor, "role": role, "client": client,
            "method": method, "path": path, "params": params, "status": status,
            "results": results,
        }  # fmt: skip
        params_json = canonical_json(params)
        entry["params"] = json.loads(params_json)  # exactly what verify will read back
        with self.db.transaction() as conn:
            head = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            entry["seq"] = head["seq"] + 1 if head else 1
            prev = head["hash"] if head else GENESIS
            conn.execute(
                "INSERT INTO audit(seq, at, actor, role, client, method, path, params, status, "
                "results, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (entry["seq"], entry["at"], actor, role, client, method, path, params_json,
                 status, results, prev, entry_hash(prev, entry)),
            )  # fmt: skip
        return entry["seq"]

    @staticmethod
    def _where(path_prefix: str | None, actor: str | None) -> tuple[str, dict[str, str]]:
        clauses, params = [], {}
        if path_prefix:
            # whole segments: /api/cases/1 matches /api/cases/1 and /api/cases/1/notes,
            # never /api/cases/10 (a range, so the path index serves it)
            base = path_prefix.rstrip("/")
            clauses.append("(path = :p OR (path >= :lo AND path < :hi))")
            params.update(p=base, lo=base + "/", hi=base + "0")  # '0' sorts right after '/'
        if actor:
            clauses.append("actor = :actor")
            params["actor"] = actor
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def entries(
        self,
        path_prefix: str | None = None,
        actor: str | None = None,
        limit: int = 100,
        offset: int = 0,
        *,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Entries in seq order (oldest first unless `newest_first`). `path_prefix` matches
        whole path segments; `actor` is a key's name (or `local`, `anonymous`, `cli:USER`)."""
        where, params = self._where(path_prefix, actor)
        order = "DESC" if newest_first else "ASC"
        rows = self.db.query(
            f"SELECT * FROM audit{where} ORDER BY seq {order} LIMIT :limit OFFSET :offset",
            {**params, "limit": max(0, min(limit, MAX_PAGE)), "offset": max(0, offset)},
        )
        return [_entry(row) for row in rows]

    def count(self, path_prefix: str | None = None, actor: str | None = None) -> int:
        where, params = self._where(path_prefix, actor)
        return self.db.query(f"SELECT COUNT(*) FROM audit{where}", params)[0][0]

    def iter_all(self, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every entry, oldest first, read in batches (the lock is not held in between)."""
        after = 0
        while True:
            rows = self.db.query(
                "SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (after, batch)
            )
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            after = rows[-1]["seq"]

    def verify(self) -> AuditCheck:
        return verify_chain(self.iter_all())

    def export_jsonl(self) -> Iterator[str]:
        """One JSON line per entry, hashes included, so an export can be checked on its own."""
        for entry in self.iter_all():
            yield json.dumps(entry, ensure_ascii=False) + "\n"
