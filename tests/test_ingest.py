"""Ingest end to end on both stores: every format, rejects, idempotency, every kind."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest

from graph.schema import Edge, Label, Node, NodeRef, RelType
from graph.store import GraphStore
from ingest.loader import ingest_files

POSTINGS = [
    {
        "id": "P1",
        "platform": "chemb2b-market.com",
        "posted_at": "2021-03-04",
        "kind": "offer",
        "title": "PMK ethyl glycidate CAS 28578-16-7 high purity",
        "text": "Contact WhatsApp/Telegram: +86 138 0013 8000 or sales[at]chemvendor[dot]com",
        "country": "CN",
        "contacts": ["t.me/ChemVendor"],
    },
    {
        "id": "P2",
        "platform": "ChemB2B Market",
        "posted_at": "2022-05-01T10:00:00Z",
        "title": "Looking for BMK glycidate supplier, 5 kg",
        "text": "Need it fast. Wickr: buyer_mx",
        "country": "MX",
    },
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_postings_jsonl_become_linked_entities(store: GraphStore, tmp_path: Path) -> None:
    summary = ingest_files(store, "postings", [write_jsonl(tmp_path / "p.jsonl", POSTINGS)],
                           rejects_path=tmp_path / "rejects.jsonl")
    assert (summary.read, summary.ingested, summary.rejected) == (2, 2, 0)
    p1 = store.get_node(NodeRef(Label.POSTING, "P1"))
    assert p1 is not None and p1.props["kind"] == "offer"
    assert p1.provenance.first_seen == "2021-03-04"
    captured = json.dumps(POSTINGS[0], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert p1.props["content_sha256"] == hashlib.sha256(captured.encode()).hexdigest()
    view = store.ego([p1.ref], depth=1)
    keys = {n.key for n in view.nodes}
    assert {"phone:+8613800138000", "email:sales@chemvendor.com", "telegram:chemvendor",
            "28578-16-7", "CN"} <= keys
    phone_edge = next(e for e in view.edges if e.target.key == "phone:+8613800138000")
    assert phone_edge.props["evidence"] == ["+86 138 0013 8000"]
    assert set(phone_edge.props["channels"]) == {"whatsapp", "telegram"}
    mention = next(e for e in view.edges if e.type is RelType.MENTIONS)
    assert mention.props["controlled"] is False  # ethyl ester controlled only from 2024-12
    p2 = store.get_node(NodeRef(Label.POSTING, "P2"))
    assert p2 is not None and p2.props["kind"] == "request" and p2.props["kind_inferred"]
    # both postings name one platform (by domain and by name) only once platforms are known
    assert store.counts().nodes["Posting"] == 2


def test_same_files_twice_change_nothing(store: GraphStore, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", POSTINGS)
    ingest_files(store, "postings", [path], rejects_path=tmp_path / "r.jsonl")
    before = store.counts()
    again = ingest_files(store, "postings", [path], rejects_path=tmp_path / "r.jsonl")
    assert (again.ingested, again.updated, again.unchanged) == (0, 0, 2)
    assert store.counts() == before
    changed = [dict(POSTINGS[0], title="PMK ethyl glycidate, new stock", posted_at="2021-06-01")]
    third = ingest_files(store, "postings", [write_jsonl(tmp_path / "c.jsonl", changed)],
                         rejects_path=tmp_path / "r.jsonl")
    assert (third.ingested, third.updated) == (0, 1)
    node = store.get_node(NodeRef(Label.POSTING, "P1"))
    assert node is not None and node.props["title"] == "PMK ethyl glycidate, new stock"
    assert (node.provenance.first_seen, node.provenance.last_seen) == ("2021-03-04",
                                                                        "2021-06-01")


@pytest.mark.parametrize("form", ["csv", "csv-bom", "json-array", "jsonl-gz"])
def test_every_file_format(store: GraphStore, tmp_path: Path, form: str) -> None:
    header = "id,platform,posted_at,title,text,contacts\n"
    rows = 'A1,forum-x,2020-01-02,"APAAN, 99%","Threema: ABCD1234",+44 7911 123456;x@y.com\n'
    if form.startswith("csv"):
        path = tmp_path / "p.csv"
        bom = "\ufeff" if form == "csv-bom" else ""
        path.write_text(bom + header + rows, encoding="utf-8")
    elif form == "json-array":
        path = tmp_path / "p.json"
        path.write_text(json.dumps([{"id": "A1", "platform": "forum-x", "posted_at": "2020-01-02",
                                     "title": "APAAN, 99%", "text": "Threema: ABCD1234",
                                     "contacts": ["+44 7911 123456", "x@y.com"]}]))
    else:
        path = tmp_path / "p.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(json.dumps({"id": "A1", "platform": "forum-x",
                                     "posted_at": "2020-01-02", "title": "APAAN, 99%",
                                     "text": "Threema: ABCD1234",
                                     "contacts": "+44 7911 123456;x@y.com"}) + "\n")
    summary = ingest_files(store, "postings", [path], rejects_path=tmp_path / "r.jsonl")
    assert (summary.read, summary.ingested) == (1, 1)
    keys = {n.key for n in store.ego([NodeRef(Label.POSTING, "A1")]).nodes}
    assert {"threema:ABCD1234", "phone:+447911123456", "email:x@y.com", "4468-48-8"} <= keys


def test_bad_rows_go_to_rejects_with_file_line_and_field(store: GraphStore,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"id": "OK1", "platform": "x", "title": "fine"}),
        '{"id": "broken", ',
        json.dumps({"platform": "x", "title": "no id"}),
        json.dumps({"id": "D1", "platform": "x", "posted_at": "31/02/2020"}),
        json.dumps({"id": "L1", "platform": "x", "text": "a" * 100_001}),
        json.dumps({"id": "B1", "platform": "x", "text": "junk\x00\x01"}),
        json.dumps({"id": "C1", "platform": "x", "country": "Narnia"}),
        json.dumps(["not", "an", "object"]),
    ]
    raw = ("\n".join(lines) + "\n").encode() + b'{"id": "E1", "title": "caf\xe9"}\n'
    path.write_bytes(raw)
    rejects = tmp_path / "rejects.jsonl"
    summary = ingest_files(store, "postings", [path], rejects_path=rejects)
    assert (summary.read, summary.ingested, summary.rejected) == (9, 1, 8)
    rows = [json.loads(line) for line in rejects.read_text().splitlines()]
    by_line = {r["line"]: r for r in rows}
    assert all(r["file"] == str(path) for r in rows)
    assert "malformed JSON" in by_line[2]["reason"]
    assert (by_line[3]["field"], by_line[3]["reason"]) == ("id", "required field is missing")
    assert by_line[4]["field"] == "posted_at" and "ISO date" in by_line[4]["reason"]
    assert by_line[5]["field"] == "text" and "longer than" in by_line[5]["reason"]
    assert by_line[6]["field"] == "text" and "control" in by_line[6]["reason"]
    assert by_line[7]["field"] == "country"
    assert "not a JSON object" in by_line[8]["reason"]
    assert by_line[9]["reason"] == "not valid UTF-8"
    assert by_line[3]["raw"]["title"] == "no id"  # the raw row is kept


def test_seizures_routes_operators_contacts_platforms(store: GraphStore, tmp_path: Path) -> None:
    (tmp_path / "platforms.csv").write_text(
        "name,domain,kind,country,cooperation\nChemB2B Market,www.chemb2b-market.com,b2b,CN,yes\n")
    (tmp_path / "routes.csv").write_text(
        "id,origin_country,transit_countries,destination_country,mode\nR1,CN,NL;BE,MX,sea\n")
    (tmp_path / "seizures.csv").write_text(
        "id,date,substance,cas,quantity,unit,country,origin_country,transit_countries,"
        "destination_country,consignor,consignee,contacts,route_id,source\n"
        'S1,2023-02-24,PMK glycidate,13605-48-6,50.3,kg,NL,CN,BE,MX,"Hubei Xinyuan Chemical '
        'Co., Ltd.",Elbnoord Chemie Ltd,+86 138 0013 8000,R1,PICS\n'
        "S2,2023-02-25,x,1234-56-7,1,kg,NL,CN,,MX,a,b,,R1,PICS\n"
        "S3,2023-02-26,x,,lots,kg,NL,CN,,MX,a,b,,R1,PICS\n")
    (tmp_path / "operators.csv").write_text(
        "id,name,country,registration_no,substances,contacts,valid_from,valid_to\n"
        "O1,Acme Solvents GmbH,DE,DE-123,108-24-7;67-64-1,info@acme.de,2020-01-01,2025-12-31\n")
    (tmp_path / "contacts.csv").write_text(
        "value,kind,owner,note\n+8613800138000,phone,HUBEI XINYUAN CHEMICAL CO LTD,tip\n"
        "not a contact,,Someone,x\n")
    results = {
        kind: ingest_files(store, kind, [tmp_path / f"{kind}.csv"],
                           rejects_path=tmp_path / f"{kind}-rejects.jsonl")
        for kind in ("platforms", "routes", "seizures", "operators", "contacts")
    }
    assert results["seizures"].rejected == 2  # invalid CAS check digit, bad quantity
    assert results["contacts"].rejected == 1
    seizure_rejects = [json.loads(x) for x in
                       (tmp_path / "seizures-rejects.jsonl").read_text().splitlines()]
    assert {(r["line"], r["field"]) for r in seizure_rejects} == {(3, "cas"), (4, "quantity")}
    view = store.ego([NodeRef(Label.SEIZURE, "S1")], depth=1)
    by_type = {(e.type, e.target.key) for e in view.edges}
    assert (RelType.OF_SUBSTANCE, "13605-48-6") in by_type
    assert (RelType.CONSIGNOR, "hubei xinyuan chemical") in by_type
    assert (RelType.ON_ROUTE, "R1") in by_type
    assert (RelType.HAS_IDENTIFIER, "phone:+8613800138000") in by_type
    route = store.ego([NodeRef(Label.ROUTE, "R1")], depth=1)
    transit = sorted((e.props["order"], e.target.key) for e in route.edges
                     if e.type is RelType.TRANSIT and e.source.key == "R1")
    assert transit == [(1, "NL"), (2, "BE")]
    # the contacts file ties the consignor company (a spelling variant) to the phone
    company = store.ego([NodeRef(Label.COMPANY, "hubei xinyuan chemical")], depth=1)
    assert "phone:+8613800138000" in {n.key for n in company.nodes}
    operator = store.ego([NodeRef(Label.OPERATOR, "O1")], depth=1)
    assert {"108-24-7", "67-64-1", "email:info@acme.de", "acme solvents"} <= {
        n.key for n in operator.nodes}
    platform = store.get_node(NodeRef(Label.PLATFORM, "ChemB2B Market"))
    assert platform is not None and platform.props["domain"] == "chemb2b-market.com"
    assert platform.props["cooperation"] is True


def test_postings_find_platform_by_domain(store: GraphStore, tmp_path: Path) -> None:
    (tmp_path / "platforms.csv").write_text(
        "name,domain,kind,country,cooperation\nChemB2B Market,chemb2b-market.com,b2b,CN,no\n")
    ingest_files(store, "platforms", [tmp_path / "platforms.csv"],
                 rejects_path=tmp_path / "r.jsonl")
    ingest_files(store, "postings", [write_jsonl(tmp_path / "p.jsonl", [
        {"id": "N1", "platform": "www.chemb2b-market.com", "text": "Tel: 138 0013 8000"}])],
        rejects_path=tmp_path / "r.jsonl")
    view = store.ego([NodeRef(Label.POSTING, "N1")], depth=1)
    # the platform is known by its domain, and its country reads the national number
    assert {"ChemB2B Market", "phone:+8613800138000"} <= {n.key for n in view.nodes}
    assert store.counts().nodes["Platform"] == 1


def test_caviar_links_import(store: GraphStore, tmp_path: Path) -> None:
    caviar = Path(__file__).parent / "data" / "caviar" / "caviar_full.csv"
    summary = ingest_files(store, "links", [caviar], source="caviar",
                           rejects_path=tmp_path / "r.jsonl")
    assert (summary.read, summary.ingested, summary.rejected) == (205, 205, 0)
    counts = store.counts()
    assert counts.nodes == {"Person": 110} and counts.edges == {"LINKED_TO": 205}
    n1 = store.ego([NodeRef(Label.PERSON, "1")], depth=1, limit=500)
    assert len(n1.nodes) == 61
    weights = {e.props["weight"] for e in n1.edges if {e.source.key, e.target.key} == {"1", "3"}}
    assert weights == {337}


def _store_dump(store: GraphStore) -> dict[str, Any]:
    """Everything an ingest leaves in a store, less the run's own timestamp."""

    def prov(item: Node | Edge) -> dict[str, str | None]:
        return {k: v for k, v in item.provenance.as_dict().items() if k != "ingested_at"}

    nodes = sorted((str(n.label), n.key, n.props, prov(n)) for n in store.iter_nodes())
    edges = sorted(
        (str(e.type), str(e.source), str(e.target), e.props, prov(e)) for e in store.iter_edges()
    )
    return {"nodes": nodes, "edges": edges, "counts": store.counts()}


def test_rows_from_workers_store_what_entities_store(store: GraphStore, tmp_path: Path) -> None:
    """Workers send what the store's prepare_rows makes (StoreRows, Neo4jRows). Entities
    ingested over them after must find nothing to change, on either backend."""
    path = write_jsonl(tmp_path / "p.jsonl", POSTINGS)
    rows_run = ingest_files(store, "postings", [path], workers=2, rejects_path=tmp_path / "r")
    assert (rows_run.read, rows_run.ingested, rows_run.rejected) == (2, 2, 0)
    dump = _store_dump(store)
    again = ingest_files(store, "postings", [path], workers=1, rejects_path=tmp_path / "r")
    assert (again.ingested, again.updated, again.unchanged) == (0, 0, 2)
    assert (again.store.nodes_updated, again.store.edges_updated) == (0, 0)
    assert _store_dump(store) == dump


def test_worker_processes_give_the_same_store_counts_and_rejects(tmp_path: Path) -> None:
    """Workers send store rows instead of entities; nothing a run leaves may differ."""
    from graph.sqlite_store import SQLiteStore

    _same_with_and_without_workers(tmp_path, lambda n: SQLiteStore(tmp_path / f"w{n}.db"))


@pytest.mark.neo4j
def test_worker_processes_give_the_same_neo4j_store_counts_and_rejects(
    tmp_path: Path, neo4j_store: GraphStore
) -> None:
    """Neo4j workers send its UNWIND rows (Neo4jRows); the same holds."""

    def emptied(workers: int) -> AbstractContextManager[GraphStore]:
        neo4j_store.clear()
        return nullcontext(neo4j_store)

    _same_with_and_without_workers(tmp_path, emptied)


def _same_with_and_without_workers(
    tmp_path: Path, empty_store: Callable[[int], AbstractContextManager[GraphStore]]
) -> None:
    """Ingest a file with repeats and rejects twice, without workers then with two, each
    into an empty store: summaries, store dump, checkpoint and rejects must be equal."""
    rows = [dict(POSTINGS[i % 2], id=f"W{i % 40}") for i in range(60)]  # 20 repeats
    for i in range(40, 60):  # the repeats come later: some update, some change nothing
        if i % 3 == 0:
            rows[i]["posted_at"] = "2023-01-02"
    lines = [json.dumps(r) for r in rows]
    lines[5] = '{"id": "broken", '
    lines[17] = json.dumps({"id": "D1", "platform": "x", "posted_at": "31/02/2020"})
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = []
    for workers in (1, 2):
        rejects = tmp_path / f"r{workers}.jsonl"
        with empty_store(workers) as store:
            first = ingest_files(store, "postings", [path], workers=workers, batch_size=7,
                                 rejects_path=rejects)
            again = ingest_files(store, "postings", [path], workers=workers, batch_size=7,
                                 rejects_path=rejects)
            results.append((
                [{k: v for k, v in s.as_dict().items() if k != "rejects_path"}
                 for s in (first, again)],
                _store_dump(store),
                store.get_meta("ingest-progress:postings")["files"],
                rejects.read_text(encoding="utf-8"),
            ))
    (summaries, dump, checkpoint, rejected), with_workers = results
    assert summaries[0]["read"] == 60 and summaries[0]["rejected"] == 2
    assert summaries[0]["updated"] > 0 and summaries[0]["unchanged"] > 0
    assert summaries[1]["ingested"] == 0 and summaries[1]["unchanged"] > 0
    assert checkpoint[0]["line"] == 60 and rejected.count("\n") == 4
    assert len(dump["nodes"]) > 40 and len(dump["edges"]) >= 200
    assert with_workers == results[0]


def test_a_batch_the_store_refuses_is_retried_record_by_record(tmp_path: Path) -> None:
    """Workers send rows for the whole batch; when the store refuses it, the batch is built
    again here and stored record by record, so only the refused record is rejected."""
    from graph.sqlite_store import SQLiteStore
    from graph.store import StoreError, StoreRows

    class RefusingStore(SQLiteStore):
        """A real store that refuses any batch holding the posting REFUSED."""

        def upsert_rows(self, rows: StoreRows) -> Any:
            if any(row[:2] == ("Posting", "REFUSED") for row in rows.nodes):
                raise StoreError("posting REFUSED is refused")
            return super().upsert_rows(rows)

    rows = [dict(POSTINGS[i % 2], id="REFUSED" if i == 4 else f"R{i}") for i in range(9)]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    dumps = []
    for workers in (1, 2):
        rejects = tmp_path / f"r{workers}.jsonl"
        with RefusingStore(tmp_path / f"w{workers}.db") as store:
            summary = ingest_files(store, "postings", [path], workers=workers, batch_size=4,
                                   rejects_path=rejects)
            assert (summary.read, summary.ingested, summary.rejected) == (9, 8, 1)
            rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
            assert [(r["line"], r["reason"]) for r in rejected] == [
                (5, "store refused the record: posting REFUSED is refused")
            ]
            dumps.append(_store_dump(store))
    assert dumps[0] == dumps[1] and dumps[0]["counts"].nodes["Posting"] == 8


def test_sqlite_text_index_holds_each_node_once_also_in_an_older_database(
    tmp_path: Path,
) -> None:
    """Stores made before indexed new rows by a trigger; opening one drops it, since
    ingest now indexes each batch in one statement (an FTS5 integrity check fails on a
    row indexed twice)."""
    from graph.sqlite_store import SQLiteStore

    db = tmp_path / "old.db"
    with SQLiteStore(db) as store:
        store._db.execute(
            "CREATE TRIGGER nodes_fts_insert AFTER INSERT ON nodes BEGIN "
            "INSERT INTO node_fts (rowid, text) VALUES (new.id, new.text); END"
        )
    path = write_jsonl(tmp_path / "p.jsonl", POSTINGS)
    with SQLiteStore(db) as store:
        for _ in range(2):
            ingest_files(store, "postings", [path], batch_size=1, rejects_path=tmp_path / "r")
        store._db.execute("INSERT INTO node_fts (node_fts, rank) VALUES ('integrity-check', 1)")
        assert store.search_count("glycidate", [Label.POSTING]) == 2
        assert {n.key for n in store.search("buyer_mx")} == {"wickr:buyer_mx", "P2"}


def test_batch_writer_writes_in_order_and_reports_errors() -> None:
    from ingest.throughput import BatchWriter

    written: list[int] = []
    with BatchWriter(written.append) as writer:
        for batch in range(5):
            writer.submit(batch)
    assert written == [0, 1, 2, 3, 4]

    def fail_on_two(batch: int) -> None:
        if batch == 2:
            raise RuntimeError("store lost")
        written.append(batch)

    written.clear()
    with pytest.raises(RuntimeError, match="store lost"), BatchWriter(fail_on_two) as writer:
        for batch in range(5):
            writer.submit(batch)
    assert written == [0, 1]  # the error stopped the run by the next batch
    with pytest.raises(KeyError), BatchWriter(written.append) as writer:
        writer.submit(9)
        raise KeyError("the builder's own error wins")
    assert written[-1] == 9  # and the batch in flight was still written
