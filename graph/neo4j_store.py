"""Neo4j store: the system of record for teams.

Each schema label is a Neo4j label with a unique `_key`; each relationship type is a Neo4j
relationship type. Batches are written with `UNWIND ... MERGE`, grouped by label (labels
cannot be query parameters, so they come only from graph.schema, never from input).
Bookkeeping properties start with `_` (`_key`, `_hash`, `_source`, `_first_seen`, ...)
so they never collide with record fields.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from neo4j import Driver, GraphDatabase, ManagedTransaction, Query
from neo4j import exceptions as neo4j_errors

from graph.limits import QueryTimeoutError, budget_seconds, deadline_passed, seconds_left
from graph.schema import (
    NODE_TYPES,
    PROVENANCE_FIELDS,
    RELATIONSHIP_TYPES,
    Edge,
    Label,
    Node,
    NodeRef,
    Provenance,
    RelType,
    props_hash,
)
from graph.store import (
    Counts,
    GraphStore,
    MissingNodeError,
    NodeFilter,
    StoreError,
    StoreUnavailableError,
    WriteStats,
    merge_batch,
    search_tokens,
)

_META = "_PrexusMeta"
_DOCUMENT = "_Document"
_DOCUMENT_COUNTER = "_DocumentCounter"
_FULLTEXT = "prexus_search"
_TOKENS = "_tok_"
_UNREACHABLE = (
    neo4j_errors.ServiceUnavailable,
    neo4j_errors.SessionExpired,
    neo4j_errors.DatabaseUnavailable,
)
"""Errors that mean the server went away or is shutting down, not that it refused the work:
they become StoreUnavailableError, so ingest stops (to be resumed) instead of rejecting."""


@contextlib.contextmanager
def _reachable(uri: str) -> Iterator[None]:
    """Streamed reads: a server lost mid-stream is a StoreUnavailableError, as in `_run`."""
    try:
        yield
    except _UNREACHABLE as exc:
        raise StoreUnavailableError(f"lost Neo4j at {uri}: {exc}") from None


def _search_expression(label: Label) -> str:
    """Cypher that joins a node's pre-tokenised text fields into its `_search` text."""
    parts = ["n._key"] + [
        f"coalesce(n.{_TOKENS}{name}, '')" for name in NODE_TYPES[label].text_fields
    ]
    return " + ' ' + ".join(parts)


_KEEP_PLAN = "CYPHER replan=skip"
"""Batch writes find every node by its unique `_key` whatever the statistics say, but a
first ingest changes the statistics so fast that the server re-planned these queries (100 to
700 ms each) at most batches: more time than running them. Keep the first plan."""

_MERGE_PROVENANCE = """
WITH x, row, x._hash IS NULL AS created,
     (x._hash IS NULL OR x._hash <> row.hash
      OR (row.first_seen IS NOT NULL AND (x._first_seen IS NULL OR row.first_seen < x._first_seen))
      OR (row.last_seen IS NOT NULL AND (x._last_seen IS NULL OR row.last_seen > x._last_seen))
     ) AS changed
FOREACH (_ IN CASE WHEN changed THEN [1] ELSE [] END |
    SET x += row.props, x._hash = row.hash,
        x._source = coalesce(x._source, row.source),
        x._source_record = coalesce(x._source_record, row.source_record),
        x._first_seen = CASE WHEN row.first_seen IS NOT NULL AND (x._first_seen IS NULL
                        OR row.first_seen < x._first_seen) THEN row.first_seen
                        ELSE x._first_seen END,
        x._last_seen = CASE WHEN row.last_seen IS NOT NULL AND (x._last_seen IS NULL
                       OR row.last_seen > x._last_seen) THEN row.last_seen
                       ELSE x._last_seen END,
        x._ingested_at = row.ingested_at
    {extra}
)
RETURN count(*) AS matched, sum(CASE WHEN created THEN 1 ELSE 0 END) AS created,
       sum(CASE WHEN changed AND NOT created THEN 1 ELSE 0 END) AS updated{returned}
"""


def _node_upsert_query(label: Label) -> str:
    """MERGE a label's nodes; also returns the keys it created, so that their edges can be
    CREATEd (a node new in this batch has no relationship to merge with)."""
    search = f", x._search = {_search_expression(label).replace('n.', 'x.')}"
    merge = f"{_KEEP_PLAN} UNWIND $rows AS row MERGE (x:`{label}` {{_key: row.key}})"
    return merge + _MERGE_PROVENANCE.replace("{extra}", search).replace(
        "{returned}", ",\n       collect(CASE WHEN created THEN row.key END) AS new_keys"
    )


def _endpoints(source: Label, target: Label, src: str = "row.src", dst: str = "row.dst") -> str:
    """Both endpoints of each row by key: one unique-index seek each."""
    return (
        f"{_KEEP_PLAN} UNWIND $rows AS row MATCH (a:`{source}` {{_key: {src}}}) "
        f"MATCH (b:`{target}` {{_key: {dst}}}) "
    )


def _edge_upsert_query(rel: RelType, source: Label, target: Label) -> str:
    return (
        _endpoints(source, target)
        + f"MERGE (a)-[x:`{rel}`]->(b)"
        + _MERGE_PROVENANCE.replace("{extra}", "").replace("{returned}", "")
    )


_EdgeRow = list[Any]
"""An edge as Neo4jRows holds it and the CREATE query reads it: [source key, target key,
record props, props hash, then provenance in PROVENANCE_FIELDS order]. A list, not a map:
a map would repeat its eight key strings in every one of a batch's ~11,000 rows, to pickle,
pack, send and decode on the server."""
_EDGE_PROVENANCE = 4
"""Where the provenance starts in an _EdgeRow."""


def _edge_row(edge: Edge) -> _EdgeRow:
    """One edge's row; its hash is of the record props, as the MERGE path compares."""
    prov = edge.provenance
    return [
        edge.source.key,
        edge.target.key,
        edge.props,
        props_hash(edge.props),
        *[getattr(prov, name) for name in PROVENANCE_FIELDS],
    ]


def _edge_create_query(rel: RelType, source: Label, target: Label, names: Iterable[str]) -> str:
    """For edges with an endpoint created in the same batch: no existing relationship to
    look for, and every property is written with the relationship from a map literal:
    the record props the rows have (a row without one gives null: not set), `_hash` and
    provenance, as the MERGE path would set them. (`SET x = map` did the same, but the
    planner put an `Eager`, every row materialised, before it.)"""
    record = [f"{_quoted(name)}: row[2].{_quoted(name)}" for name in sorted(names)]
    stored = ["_hash: row[3]"] + [
        f"_{name}: row[{i}]" for i, name in enumerate(PROVENANCE_FIELDS, _EDGE_PROVENANCE)
    ]
    props = ", ".join(record + stored)
    return (
        _endpoints(source, target, "row[0]", "row[1]")
        + f"CREATE (a)-[x:`{rel}` {{{props}}}]->(b) RETURN count(*) AS matched"
    )


def _quoted(name: str) -> str:
    """A property name as a Cypher identifier, whatever characters it has."""
    return "`" + name.replace("`", "``") + "`"


def _row(
    key_fields: dict[str, str],
    props: dict[str, Any],
    prov: Provenance,
    hashed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One UNWIND row; the hash is of `hashed` (the record props, without search tokens)
    when given, so each node's props are encoded once."""
    digest = props_hash(props if hashed is None else hashed)
    return {**key_fields, "props": props, "hash": digest, **prov.as_dict()}


def _merge_row(row: _EdgeRow) -> dict[str, Any]:
    """The `_MERGE_PROVENANCE` row of an edge (a map, as the node rows) from its `_EdgeRow`."""
    merged = {"src": row[0], "dst": row[1], "props": row[2], "hash": row[3]}
    merged.update(zip(PROVENANCE_FIELDS, row[_EDGE_PROVENANCE:], strict=True))
    return merged


def _node_props(label: Label, props: dict[str, Any]) -> dict[str, Any]:
    """Record properties plus the tokenised copies of text fields that `_search` joins."""
    extra = {}
    for name in NODE_TYPES[label].text_fields:
        value = props.get(name)
        if value is not None:
            text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
            extra[_TOKENS + name] = " ".join(search_tokens(text))
    return {**props, **extra}


def _public(props: dict[str, Any]) -> tuple[dict[str, Any], Provenance]:
    """Split stored properties into record properties and provenance."""
    prov = Provenance(**{name: props.get("_" + name) for name in PROVENANCE_FIELDS})
    return {k: v for k, v in props.items() if not k.startswith("_")}, prov


_EdgeGroup = tuple[RelType, Label, Label]


@dataclass(slots=True)
class Neo4jRows:
    """One batch as the UNWIND parameters of its writes, merged like `merge_batch`: node
    rows by label (props with search tokens, hash, provenance), edge rows by (type,
    source label, target label) as `_EdgeRow` lists. Built by `Neo4jStore.prepare_rows`,
    maybe in an ingest worker, so the process talking to the server only sends them;
    plain lists, dicts and strings, cheap to pickle."""

    nodes: dict[Label, list[dict[str, Any]]]
    edges: dict[_EdgeGroup, list[_EdgeRow]]

    def entities(self) -> tuple[list[Node], list[Edge]]:
        """The merged nodes and edges again (a watched ingest checks those)."""
        nodes = [
            Node(
                label,
                row["key"],
                {k: v for k, v in row["props"].items() if not k.startswith(_TOKENS)},
                Provenance(*[row[name] for name in PROVENANCE_FIELDS]),
            )
            for label, rows in self.nodes.items()
            for row in rows
        ]
        edges = [
            Edge(
                rel,
                NodeRef(source, row[0]),
                NodeRef(target, row[1]),
                row[2],
                Provenance(*row[_EDGE_PROVENANCE:]),
            )
            for (rel, source, target), rows in self.edges.items()
            for row in rows
        ]
        return nodes, edges


class Neo4jStore(GraphStore):
    """Neo4j through the official driver (PREXUS_NEO4J_URI and friends)."""

    backend = "neo4j"

    def __init__(
        self, uri: str, user: str = "neo4j", password: str = "", database: str | None = None
    ) -> None:
        self.uri = uri
        self.database = database or None
        auth = (user, password) if password else None
        try:
            self._driver: Driver = GraphDatabase.driver(
                uri, auth=auth, notifications_min_severity="OFF"
            )
            self._driver.verify_connectivity()
        except (neo4j_errors.ServiceUnavailable, OSError, ValueError) as exc:
            raise StoreUnavailableError(f"cannot reach Neo4j at {uri}: {exc}") from None
        except neo4j_errors.AuthError as exc:
            raise StoreUnavailableError(f"Neo4j at {uri} refused the credentials: {exc}") from None
        self.ensure_schema()

    def __repr__(self) -> str:
        return f"Neo4jStore({self.uri!r})"

    def _run(self, cypher: str, /, **params: Any) -> list[dict[str, Any]]:
        """Run one read or small write; under a time budget (graph.limits) the server gets
        the time left as the transaction timeout and stops the query there."""
        left = seconds_left()
        query: str | Query = cypher
        if left is not None:  # a timeout of 0 means none to the server: send at least 10 ms
            query = Query(cypher, timeout=max(left, 0.01))  # type: ignore[arg-type]
        try:
            records, _, _ = self._driver.execute_query(
                query, parameters_=params, database_=self.database
            )
        except _UNREACHABLE as exc:
            raise StoreUnavailableError(f"lost Neo4j at {self.uri}: {exc}") from None
        except neo4j_errors.Neo4jError as exc:
            if left is not None and (_timed_out(exc) or deadline_passed()):
                raise QueryTimeoutError(budget_seconds() or left) from None
            raise
        return [record.data() for record in records]

    # --- lifecycle -------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        for label, node_type in NODE_TYPES.items():
            name = label.lower()
            self._run(
                f"CREATE CONSTRAINT prexus_{name}_key IF NOT EXISTS "
                f"FOR (n:`{label}`) REQUIRE n._key IS UNIQUE"
            )
            for prop in node_type.indexed:
                self._run(
                    f"CREATE INDEX prexus_{name}_{prop} IF NOT EXISTS "
                    f"FOR (n:`{label}`) ON (n.`{prop}`)"
                )
        self._run(
            f"CREATE CONSTRAINT prexus_meta_name IF NOT EXISTS "
            f"FOR (m:`{_META}`) REQUIRE m.name IS UNIQUE"
        )
        self._run(
            f"CREATE CONSTRAINT prexus_document_key IF NOT EXISTS "
            f"FOR (d:`{_DOCUMENT}`) REQUIRE (d.collection, d.key) IS UNIQUE"
        )
        self._run(
            f"CREATE CONSTRAINT prexus_document_counter IF NOT EXISTS "
            f"FOR (c:`{_DOCUMENT_COUNTER}`) REQUIRE c.name IS UNIQUE"
        )
        labels = "|".join(f"`{label}`" for label in NODE_TYPES)
        self._run(
            f"CREATE FULLTEXT INDEX {_FULLTEXT} IF NOT EXISTS FOR (n:{labels}) ON EACH "
            "[n._search] OPTIONS {indexConfig: {`fulltext.analyzer`: 'whitespace', "
            "`fulltext.eventually_consistent`: false}}"
        )
        self._run("CALL db.awaitIndexes(300)")

    def close(self) -> None:
        self._driver.close()

    clear_chunk = 10_000
    """Relationships, then nodes, deleted per transaction by `clear`."""

    def clear(self) -> None:
        """Delete relationships first, then nodes, each in transactions of `clear_chunk`:
        detaching nodes in chunks still deletes all of a hub's relationships (a country,
        a platform: one per posting) in one transaction, past the server's memory limit."""
        with self._driver.session(database=self.database) as session:
            for match, delete in (("()-[e]->()", "DELETE e"), ("(e)", "DETACH DELETE e")):
                session.run(
                    f"MATCH {match} CALL (e) {{ {delete} }} "
                    f"IN TRANSACTIONS OF {int(self.clear_chunk)} ROWS"
                ).consume()

    # --- writes ----------------------------------------------------------------------------
    @staticmethod
    def prepare_rows(nodes: Sequence[Node], edges: Sequence[Edge]) -> Neo4jRows:
        """Merge a batch and build its UNWIND rows (see Neo4jRows), so that merging,
        hashing, tokenising and building rows run where the batch is built (an ingest
        worker), not in the process that waits on the server."""
        nodes, edges = merge_batch(nodes, edges)
        node_rows: dict[Label, list[dict[str, Any]]] = defaultdict(list)
        for node in nodes:
            props = _node_props(node.label, node.props)
            row = _row({"key": node.key}, props, node.provenance, hashed=node.props)
            node_rows[node.label].append(row)
        edge_rows: dict[_EdgeGroup, list[_EdgeRow]] = defaultdict(list)
        for edge in edges:
            edge_rows[(edge.type, edge.source.label, edge.target.label)].append(_edge_row(edge))
        return Neo4jRows(dict(node_rows), dict(edge_rows))

    def upsert(self, nodes: Sequence[Node], edges: Sequence[Edge] = ()) -> WriteStats:
        return self.upsert_rows(self.prepare_rows(nodes, edges))

    def upsert_rows(self, rows: Neo4jRows) -> WriteStats:  # type: ignore[override]
        """Write prepared rows in one transaction: nodes by label, then each edge group,
        CREATEd where an endpoint is new in this batch (the edge cannot exist yet), else
        MERGEd with its provenance, as the SQLite store looks an edge up only then."""

        def write(tx: ManagedTransaction) -> WriteStats:
            stats = WriteStats()
            new_keys: dict[Label, set[str]] = defaultdict(set)
            for label, node_rows in rows.nodes.items():
                result = tx.run(_node_upsert_query(label), rows=node_rows).single(strict=True)
                stats.nodes_created += result["created"]
                stats.nodes_updated += result["updated"]
                stats.count(str(label), result["created"], result["updated"])
                new_keys[label].update(result["new_keys"])
            for (rel, source, target), edge_rows in rows.edges.items():
                new_src, new_dst = new_keys.get(source, set()), new_keys.get(target, set())
                created: list[_EdgeRow] = []
                merged: list[dict[str, Any]] = []
                for row in edge_rows:
                    if row[0] in new_src or row[1] in new_dst:
                        created.append(row)
                    else:
                        merged.append(_merge_row(row))
                names = set().union(*(row[2] for row in created))
                for query, group in (
                    (_edge_create_query(rel, source, target, names), created),
                    (_edge_upsert_query(rel, source, target), merged),
                ):
                    if not group:
                        continue
                    result = tx.run(query, rows=group).single(strict=True)
                    if result["matched"] != len(group):
                        ends = [{"src": row[0], "dst": row[1]} for row in created] + merged
                        raise MissingNodeError(_missing_endpoint(tx, rel, source, target, ends))
                    added = result.get("created", len(group))
                    updated = result.get("updated", 0)
                    stats.edges_created += added
                    stats.edges_updated += updated
                    stats.count(str(rel), added, updated)
            total_nodes = sum(map(len, rows.nodes.values()))
            total_edges = sum(map(len, rows.edges.values()))
            stats.nodes_unchanged = total_nodes - stats.nodes_created - stats.nodes_updated
            stats.edges_unchanged = total_edges - stats.edges_created - stats.edges_updated
            return stats

        return self._write(write)

    def _write(self, work: Any) -> Any:
        try:
            with self._driver.session(database=self.database) as session:
                return session.execute_write(work)
        except _UNREACHABLE as exc:
            raise StoreUnavailableError(f"lost Neo4j at {self.uri}: {exc}") from None
        except neo4j_errors.Neo4jError as exc:
            raise StoreError(f"Neo4j at {self.uri} rejected the batch: {exc.message}") from None

    def set_properties(self, label: Label, updates: dict[str, dict[str, Any]]) -> int:
        rows = [{"key": key, "props": props} for key, props in updates.items()]
        total = 0
        for start in range(0, len(rows), 20000):
            result = self._run(
                f"UNWIND $rows AS row MATCH (n:`{label}` {{_key: row.key}}) "
                "SET n += row.props RETURN count(n) AS n",
                rows=rows[start : start + 20000],
            )
            total += result[0]["n"]
        return total

    def delete_edges(
        self, rel: RelType, source: Label | None = None, target: Label | None = None
    ) -> int:
        a = f"a:`{source}`" if source else "a"
        b = f"b:`{target}`" if target else "b"
        with self._driver.session(database=self.database) as session:
            record = session.run(
                f"MATCH ({a})-[e:`{rel}`]->({b}) CALL (e) {{ DELETE e }} "
                "IN TRANSACTIONS OF 10000 ROWS RETURN count(*) AS n"
            ).single()
        return record["n"] if record else 0

    def delete(self, ref: NodeRef) -> bool:
        rows = self._run(
            f"MATCH (n:`{ref.label}` {{_key: $key}}) DETACH DELETE n RETURN count(*) AS n",
            key=ref.key,
        )
        return rows[0]["n"] > 0

    # --- reads -----------------------------------------------------------------------------
    @staticmethod
    def _grouped(refs: Iterable[NodeRef]) -> dict[Label, list[str]]:
        groups: dict[Label, list[str]] = defaultdict(list)
        for ref in refs:
            groups[ref.label].append(ref.key)
        return groups

    @staticmethod
    def _union_of(groups: dict[Label, list[str]], var: str = "n") -> tuple[str, dict[str, Any]]:
        """A CALL subquery yielding the nodes of several labels by key, one index seek each."""
        parts, params = [], {}
        for i, (label, keys) in enumerate(groups.items()):
            parts.append(f"MATCH ({var}:`{label}`) WHERE {var}._key IN $keys{i} RETURN {var}")
            params[f"keys{i}"] = keys
        return "CALL { " + " UNION ".join(parts) + " }", params

    def get_nodes(self, refs: Sequence[NodeRef]) -> list[Node]:
        groups = self._grouped(refs)
        if not groups:
            return []
        union, params = self._union_of(groups)
        found: dict[NodeRef, Node] = {}
        for row in self._run(f"{union} RETURN labels(n)[0] AS label, properties(n) AS p", **params):
            node = self._node(row["label"], row["p"])
            found[node.ref] = node
        return [found[ref] for ref in refs if ref in found]

    @staticmethod
    def _node(label: str, stored: dict[str, Any]) -> Node:
        props, prov = _public(stored)
        return Node(Label(label), stored["_key"], props, prov)

    def _neighbour_refs(
        self, frontier: Sequence[NodeRef], flt: NodeFilter, limit: int
    ) -> tuple[list[NodeRef], bool]:
        groups = self._grouped(frontier)
        if not groups:
            return [], False
        union, params = self._union_of(groups)
        rel = "|".join(f"`{r}`" for r in sorted(flt.rel_types)) if flt.rel_types else ""
        where = ["true"]
        if flt.labels is not None:
            where.append("labels(m)[0] IN $labels")
            params["labels"] = sorted(str(label) for label in flt.labels)
        if flt.until:
            where.append("(m._first_seen IS NULL OR left(m._first_seen, $until_len) <= $until)")
            params.update(until=flt.until, until_len=len(flt.until))
        if flt.since:
            where.append("(m._last_seen IS NULL OR m._last_seen >= $since)")
            params["since"] = flt.since
        rows = self._run(
            f"{union} MATCH (n)-[{':' + rel if rel else ''}]-(m) WHERE {' AND '.join(where)} "
            "RETURN DISTINCT labels(m)[0] AS label, m._key AS key ORDER BY label, key "
            "LIMIT $limit",
            limit=limit,
            **params,
        )
        return [NodeRef(Label(row["label"]), row["key"]) for row in rows], False

    def edges_among(self, refs: Sequence[NodeRef]) -> list[Edge]:
        groups = self._grouped(refs)
        if not groups:
            return []
        union, params = self._union_of(groups)
        rows = self._run(
            f"{union} WITH collect(n) AS ns UNWIND ns AS a MATCH (a)-[e]->(b) WHERE b IN ns "
            "RETURN type(e) AS type, labels(a)[0] AS sl, a._key AS sk, labels(b)[0] AS dl, "
            "b._key AS dk, properties(e) AS p",
            **params,
        )
        return [self._edge(row) for row in rows]

    @staticmethod
    def _edge(row: dict[str, Any]) -> Edge:
        props, prov = _public(row["p"])
        return Edge(
            RelType(row["type"]),
            NodeRef(Label(row["sl"]), row["sk"]),
            NodeRef(Label(row["dl"]), row["dk"]),
            props,
            prov,
        )

    def search(
        self, text: str, labels: Iterable[Label] | None = None, limit: int = 50, offset: int = 0
    ) -> list[Node]:
        wanted = sorted(str(label) for label in (labels or NODE_TYPES))
        exact = self._run(
            " UNION ".join(
                f"MATCH (n:`{label}` {{_key: $key}}) RETURN labels(n)[0] AS label, "
                "properties(n) AS p"
                for label in wanted
            ),
            key=text.strip(),
        )
        found: list[dict[str, Any]] = []
        tokens = search_tokens(text)
        if tokens:
            found = self._run(
                f"CALL db.index.fulltext.queryNodes('{_FULLTEXT}', $query) YIELD node, score "
                "WHERE labels(node)[0] IN $labels "
                "RETURN labels(node)[0] AS label, properties(node) AS p "
                "ORDER BY score DESC, elementId(node) LIMIT $limit",
                query=" AND ".join(f'"{token}"' for token in tokens),
                labels=wanted,
                limit=limit + len(exact) + offset,
            )
        nodes = [self._node(row["label"], row["p"]) for row in [*exact, *found]]
        unique = list({node.ref: node for node in nodes}.values())
        return unique[offset : offset + limit]

    def degree(self, ref: NodeRef) -> int:
        rows = self._run(
            f"MATCH (n:`{ref.label}` {{_key: $key}}) RETURN COUNT {{ (n)--() }} AS n",
            key=ref.key,
        )
        return rows[0]["n"] if rows else 0

    def search_count(self, text: str, labels: Iterable[Label] | None = None) -> int:
        wanted = sorted(str(label) for label in (labels or NODE_TYPES))
        tokens = search_tokens(text)
        union = " UNION ".join(f"MATCH (n:`{label}` {{_key: $key}}) RETURN n" for label in wanted)
        fulltext = (
            f" UNION CALL db.index.fulltext.queryNodes('{_FULLTEXT}', $query) YIELD node "
            "WHERE labels(node)[0] IN $labels RETURN node AS n"
            if tokens
            else ""
        )
        rows = self._run(
            f"CALL () {{ {union}{fulltext} }} RETURN count(n) AS n",
            key=text.strip(),
            query=" AND ".join(f'"{token}"' for token in tokens),
            labels=wanted,
        )
        return rows[0]["n"]

    def iter_nodes(self, label: Label | None = None) -> Iterator[Node]:
        labels = [label] if label is not None else list(NODE_TYPES)
        with _reachable(self.uri), self._driver.session(
            database=self.database, fetch_size=5000
        ) as session:
            for each in labels:
                result = session.run(f"MATCH (n:`{each}`) RETURN properties(n) AS p")
                for record in result:
                    yield self._node(str(each), record["p"])

    def iter_edges(self, rel: RelType | None = None) -> Iterator[Edge]:
        types = [rel] if rel is not None else list(RELATIONSHIP_TYPES)
        with _reachable(self.uri), self._driver.session(
            database=self.database, fetch_size=5000
        ) as session:
            for each in types:
                result = session.run(
                    f"MATCH (a)-[e:`{each}`]->(b) RETURN type(e) AS type, labels(a)[0] AS sl, "
                    "a._key AS sk, labels(b)[0] AS dl, b._key AS dk, properties(e) AS p"
                )
                for record in result:
                    yield self._edge(record.data())

    def edge_list(
        self, rel_types: Iterable[RelType] | None = None
    ) -> Iterator[tuple[NodeRef, NodeRef, RelType, float | None]]:
        types = list(rel_types) if rel_types is not None else list(RELATIONSHIP_TYPES)
        with _reachable(self.uri), self._driver.session(
            database=self.database, fetch_size=10000
        ) as session:
            for each in types:
                result = session.run(
                    f"MATCH (a)-[e:`{each}`]->(b) RETURN labels(a)[0] AS sl, a._key AS sk, "
                    "labels(b)[0] AS dl, b._key AS dk, e.weight AS w"
                )
                for sl, sk, dl, dk, weight in result:
                    yield NodeRef(Label(sl), sk), NodeRef(Label(dl), dk), each, weight

    def counts(self) -> Counts:
        nodes, edges = {}, {}
        for label in NODE_TYPES:
            n = self._run(f"MATCH (n:`{label}`) RETURN count(n) AS n")[0]["n"]
            if n:
                nodes[str(label)] = n
        for rel in RELATIONSHIP_TYPES:
            n = self._run(f"MATCH ()-[r:`{rel}`]->() RETURN count(r) AS n")[0]["n"]
            if n:
                edges[str(rel)] = n
        return Counts(nodes, edges)

    def put_meta(self, name: str, value: dict[str, Any]) -> None:
        self._run(
            f"MERGE (m:`{_META}` {{name: $name}}) SET m.value = $value",
            name=name,
            value=json.dumps(value, sort_keys=True),
        )

    def get_meta(self, name: str) -> dict[str, Any] | None:
        rows = self._run(f"MATCH (m:`{_META}` {{name: $name}}) RETURN m.value AS v", name=name)
        return json.loads(rows[0]["v"]) if rows else None

    # --- workspace documents: unlinked `_Document` nodes, outside every schema label ------
    def put_document(self, collection: str, key: str, value: dict[str, Any]) -> None:
        # the counter gives each new document its place; bumping it on every write also
        # serialises writers on it, so no two documents get the same place
        self._run(
            f"MERGE (c:`{_DOCUMENT_COUNTER}` {{name: 'documents'}}) ON CREATE SET c.n = 0 "
            "SET c.n = c.n + 1 "
            f"MERGE (d:`{_DOCUMENT}` {{collection: $collection, key: $key}}) "
            "ON CREATE SET d.seq = c.n SET d.body = $body",
            collection=collection,
            key=key,
            body=json.dumps(value, sort_keys=True),
        )

    def get_document(self, collection: str, key: str) -> dict[str, Any] | None:
        rows = self._run(
            f"MATCH (d:`{_DOCUMENT}` {{collection: $collection, key: $key}}) RETURN d.body AS b",
            collection=collection,
            key=key,
        )
        return json.loads(rows[0]["b"]) if rows else None

    def list_documents(
        self, collection: str, *, limit: int | None = None, offset: int = 0,
        newest_first: bool = False,
    ) -> tuple[int, list[dict[str, Any]]]:
        total = self._run(
            f"MATCH (d:`{_DOCUMENT}` {{collection: $collection}}) RETURN count(d) AS n",
            collection=collection,
        )[0]["n"]
        order = "DESC" if newest_first else "ASC"
        rows = self._run(
            f"MATCH (d:`{_DOCUMENT}` {{collection: $collection}}) RETURN d.body AS b "
            f"ORDER BY d.seq {order} SKIP $offset" + (" LIMIT $limit" if limit is not None else ""),
            collection=collection,
            offset=offset,
            limit=limit,
        )
        return total, [json.loads(row["b"]) for row in rows]

    def delete_document(self, collection: str, key: str) -> bool:
        rows = self._run(
            f"MATCH (d:`{_DOCUMENT}` {{collection: $collection, key: $key}}) DELETE d "
            "RETURN count(*) AS n",
            collection=collection,
            key=key,
        )
        return rows[0]["n"] > 0


def _timed_out(exc: neo4j_errors.Neo4jError) -> bool:
    """The server stopped a transaction at its timeout (or terminated it for that)."""
    code = exc.code or ""
    return "TimedOut" in code or code.endswith("Transaction.Terminated")


def _missing_endpoint(
    tx: ManagedTransaction, rel: RelType, source: Label, target: Label, rows: list[dict[str, Any]]
) -> str:
    """Name the first endpoint that is not in the graph, for a clear error."""
    record = tx.run(
        f"UNWIND $rows AS row OPTIONAL MATCH (a:`{source}` {{_key: row.src}}) "
        f"OPTIONAL MATCH (b:`{target}` {{_key: row.dst}}) WITH row, a, b "
        "WHERE a IS NULL OR b IS NULL RETURN row.src AS src, row.dst AS dst, "
        "a IS NULL AS no_src LIMIT 1",
        rows=rows,
    ).single()
    if record is None:
        return f"{rel} edges: an endpoint is missing"
    ref = f"{source}:{record['src']}" if record["no_src"] else f"{target}:{record['dst']}"
    return f"{rel} edge {source}:{record['src']} -> {target}:{record['dst']}: no node {ref}"
