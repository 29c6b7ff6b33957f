"""Bulk-write throughput of the stores against a plain baseline in the same run.

    python bench/store.py [--nodes 100000] [--batch 5000] [--backend sqlite|neo4j|both]

The graph is postings that share phone identifiers (one edge per posting, identifiers
reused), the shape ingest writes. Baselines: raw `executemany` INSERTs of the same rows into
the store's own SQLite tables (and, for reference, into bare tables without indexes); a bare
`UNWIND ... CREATE` into Neo4j (with a key index so edges can find their nodes).
Target (issue 2): MERGE-based upserts at no less than half the baseline's rate.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import neo4j_settings, row, timed
from graph.schema import (
    Label,
    Provenance,
    RelType,
    encode_props,
    make_edge,
    make_node,
)
from graph.store import GraphStore


def synthetic_batches(nodes: int, batch: int) -> list[tuple[list, list]]:
    """Half postings, half identifiers; each posting links to one identifier."""
    prov = Provenance("bench", None, "2020-01-01", "2020-01-01")
    postings = nodes // 2
    out = []
    for start in range(0, postings, batch // 2):
        batch_nodes, batch_edges = [], []
        for i in range(start, min(start + batch // 2, postings)):
            p = make_node(Label.POSTING, {"id": f"P{i}", "title": f"offer {i}"}, prov)
            ident = make_node(Label.IDENTIFIER, {"kind": "phone", "value": f"+86{i:011d}"}, prov)
            batch_nodes += [p, ident]
            batch_edges.append(make_edge(RelType.HAS_IDENTIFIER, p.ref, ident.ref, prov))
        out.append((batch_nodes, batch_edges))
    return out


def write_all(store: GraphStore, batches: list[tuple[list, list]]) -> int:
    written = 0
    for nodes, edges in batches:
        store.upsert(nodes, edges)
        written += len(nodes) + len(edges)
    return written


def sqlite_baseline(path: Path, batches: list[tuple[list, list]], *, indexed: bool) -> int:
    """Raw executemany INSERTs of the same rows, ids known up front, no merge logic.

    indexed=True writes into the store's own tables (same key, neighbourhood and text
    indexes), so the ratio isolates the cost of upsert semantics; indexed=False into bare
    tables, the floor of what SQLite can take.
    """
    from graph.sqlite_store import SQLiteStore

    if indexed:
        SQLiteStore(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    if not indexed:
        db.execute(
            "CREATE TABLE nodes (id INTEGER PRIMARY KEY, label TEXT, key TEXT, "
            "props TEXT, hash TEXT)"
        )
        db.execute(
            "CREATE TABLE edges (type TEXT, src INTEGER, dst INTEGER, props TEXT, hash TEXT)"
        )
    written, next_id = 0, 1
    for nodes, edges in batches:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO nodes (id, label, key, props, hash) VALUES (?, ?, ?, ?, ?)",
            [
                (next_id + i, str(n.label), n.key, encode_props(n.props), "")
                for i, n in enumerate(nodes)
            ],
        )
        if indexed:  # the text index, filled the way the store fills it: one statement
            db.execute(
                "INSERT INTO node_fts (rowid, text) SELECT id, text FROM nodes WHERE id >= ?",
                (next_id,),
            )
        db.executemany(
            "INSERT INTO edges (type, src, dst, props, hash) VALUES (?, ?, ?, ?, ?)",
            [
                (str(e.type), next_id + 2 * i, next_id + 2 * i + 1, encode_props(e.props), "")
                for i, e in enumerate(edges)
            ],
        )
        db.execute("COMMIT")
        next_id += len(nodes)
        written += len(nodes) + len(edges)
    db.close()
    return written


def neo4j_baseline(settings, batches: list[tuple[list, list]]) -> int:
    from neo4j import GraphDatabase

    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    with GraphDatabase.driver(settings.neo4j_uri, auth=auth if auth[1] else None) as driver:
        driver.execute_query("MATCH (n:BenchNode) DETACH DELETE n")
        driver.execute_query("CREATE INDEX bench_key IF NOT EXISTS FOR (n:BenchNode) ON (n.key)")
        driver.execute_query("CALL db.awaitIndexes(60)")
        written = 0
        for nodes, edges in batches:
            with driver.session() as session:
                session.execute_write(
                    lambda tx, nodes=nodes, edges=edges: (
                        tx.run(
                            "UNWIND $rows AS r CREATE (n:BenchNode) SET n = r.props, n.key = r.key",
                            rows=[{"key": n.key, "props": n.props} for n in nodes],
                        ).consume(),
                        tx.run(
                            "UNWIND $rows AS r MATCH (a:BenchNode {key: r.s}) "
                            "MATCH (b:BenchNode {key: r.t}) CREATE (a)-[:BENCH]->(b)",
                            rows=[{"s": e.source.key, "t": e.target.key} for e in edges],
                        ).consume(),
                    )
                )
            written += len(nodes) + len(edges)
        with driver.session() as session:
            session.run(
                "MATCH (n:BenchNode) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
            ).consume()
    return written


def report(name: str, ours: tuple[int, float], base: tuple[int, float]) -> None:
    our_rate, base_rate = ours[0] / ours[1], base[0] / base[1]
    print(
        row(
            name,
            f"{ours[0]:,} items",
            f"prexus {our_rate:,.0f}/s",
            f"baseline {base_rate:,.0f}/s",
            f"ratio {our_rate / base_rate:.2f}",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--backend", choices=["sqlite", "neo4j", "both"], default="both")
    args = parser.parse_args()
    batches = synthetic_batches(args.nodes, args.batch)
    print(
        f"store bench: {args.nodes:,} nodes + {args.nodes // 2:,} edges, "
        f"batches of {args.batch:,} nodes"
    )
    if args.backend in ("sqlite", "both"):
        from graph.sqlite_store import SQLiteStore

        with tempfile.TemporaryDirectory() as tmp:
            with timed() as bare_t:
                bare_n = sqlite_baseline(Path(tmp) / "bare.db", batches, indexed=False)
            with timed() as base_t:
                base_n = sqlite_baseline(Path(tmp) / "base.db", batches, indexed=True)
            store = SQLiteStore(Path(tmp) / "prexus.db")
            with timed() as ours_t:
                ours_n = write_all(store, batches)
            with timed() as again_t:
                write_all(store, batches)
            store.close()
        report("sqlite upsert (new)", (ours_n, ours_t.seconds), (base_n, base_t.seconds))
        report(
            "sqlite upsert (re-run, unchanged)", (ours_n, again_t.seconds), (base_n, base_t.seconds)
        )
        report(
            "sqlite upsert (new) vs bare tables", (ours_n, ours_t.seconds), (bare_n, bare_t.seconds)
        )
    if args.backend in ("neo4j", "both"):
        from graph import open_store

        with neo4j_settings() as settings:
            if settings is not None:
                with timed() as base_t:
                    base_n = neo4j_baseline(settings, batches)
                store = open_store(settings)
                store.clear()
                with timed() as ours_t:
                    ours_n = write_all(store, batches)
                with timed() as again_t:
                    write_all(store, batches)
                store.clear()
                store.close()
                report("neo4j upsert (new)", (ours_n, ours_t.seconds), (base_n, base_t.seconds))
                report(
                    "neo4j upsert (re-run, unchanged)",
                    (ours_n, again_t.seconds),
                    (base_n, base_t.seconds),
                )


if __name__ == "__main__":
    main()
