"""The storage contract: every test runs on SQLite and on the real Neo4j server (the last
one, on SQLite's own way of grouping commits, on SQLite alone)."""

from __future__ import annotations

import pickle
import sqlite3
import threading

import pytest

from graph.schema import Label, NodeRef, Provenance, RelType, make_edge, make_node
from graph.sqlite_store import CACHE_KIB, GROUPED_CACHE_KIB, SQLiteStore
from graph.store import GraphStore, MissingNodeError, NodeFilter, merge_batch


def prov(first: str | None = "2020-01-01", last: str | None = None, record: str = "r1"):
    return Provenance("test", record, first, last or first)


def posting(pid: str, title: str = "PMK glycidate for sale", day: str = "2020-01-01"):
    return make_node(
        Label.POSTING, {"id": pid, "title": title, "text": f"text of {pid}"}, prov(day)
    )


def phone(value: str, day: str = "2020-01-01"):
    return make_node(Label.IDENTIFIER, {"kind": "phone", "value": value}, prov(day))


def has(a, b, evidence: str = "raw"):
    return make_edge(RelType.HAS_IDENTIFIER, a.ref, b.ref, prov(), {"evidence": evidence})


def test_upsert_counts_created_then_unchanged(store: GraphStore) -> None:
    p, i = posting("P1"), phone("+8613800138000")
    first = store.upsert([p, i], [has(p, i)])
    assert (first.nodes_created, first.edges_created) == (2, 1)
    again = store.upsert([posting("P1"), phone("+8613800138000")], [has(p, i)])
    assert (again.nodes_created, again.nodes_updated, again.nodes_unchanged) == (0, 0, 2)
    assert (again.edges_created, again.edges_updated, again.edges_unchanged) == (0, 0, 1)
    counts = store.counts()
    assert counts.nodes == {"Posting": 1, "Identifier": 1}
    assert counts.edges == {"HAS_IDENTIFIER": 1}


def test_changed_properties_update_and_overlay(store: GraphStore) -> None:
    store.upsert([make_node(Label.POSTING, {"id": "P1", "title": "a", "price": 5}, prov())])
    stats = store.upsert([make_node(Label.POSTING, {"id": "P1", "title": "b"}, prov())])
    assert (stats.nodes_created, stats.nodes_updated) == (0, 1)
    node = store.get_node(NodeRef(Label.POSTING, "P1"))
    assert node is not None
    assert node.props["title"] == "b"
    assert node.props["price"] == 5  # kept: absent from the later record


def test_provenance_keeps_earliest_first_seen_and_latest_last_seen(store: GraphStore) -> None:
    store.upsert([phone("+8613800138000", "2020-05-01")])
    store.upsert([phone("+8613800138000", "2019-01-01")])
    stats = store.upsert([phone("+8613800138000", "2021-03-01")])
    assert stats.nodes_updated == 1
    node = store.get_node(NodeRef(Label.IDENTIFIER, "phone:+8613800138000"))
    assert node is not None
    assert node.provenance.first_seen == "2019-01-01"
    assert node.provenance.last_seen == "2021-03-01"
    assert node.provenance.source == "test"
    assert node.provenance.ingested_at


def test_repeats_inside_one_batch_merge(store: GraphStore) -> None:
    stats = store.upsert(
        [phone("+8613800138000", "2020-05-01"), phone("+8613800138000", "2019-01-01")]
    )
    assert stats.nodes_created == 1
    node = store.get_node(NodeRef(Label.IDENTIFIER, "phone:+8613800138000"))
    assert node is not None and node.provenance.first_seen == "2019-01-01"


def test_edge_to_missing_node_rolls_back_the_whole_batch(store: GraphStore) -> None:
    p = posting("P1")
    ghost = phone("+8613800138000")
    with pytest.raises(MissingNodeError, match="phone:\\+8613800138000"):
        store.upsert([p], [has(p, ghost)])
    assert store.get_node(p.ref) is None
    assert store.counts().total_nodes == 0


def test_grouped_upserts_land_whole_one_by_one_with_the_metadata_between(
    store: GraphStore,
) -> None:
    # a bulk ingest groups its batches' commits (SQLite: one transaction, a savepoint per
    # batch); a refused batch must still leave nothing behind and the others everything
    p1, p2, contact = posting("P1"), posting("P2"), phone("+8613800138000", "2020-05-01")
    with store.grouped_commits(3):
        store.upsert([p1, contact], [has(p1, contact)])
        with pytest.raises(MissingNodeError):
            store.upsert([p2], [has(p2, phone("+8613900139000"))])
        store.put_meta("progress", {"line": 2})
        seen_again = store.upsert([phone("+8613800138000", "2021-03-01")])
        assert seen_again.nodes_updated == 1
    assert store.get_node(p2.ref) is None
    assert store.counts().nodes == {"Posting": 1, "Identifier": 1}
    assert store.counts().edges == {"HAS_IDENTIFIER": 1}
    assert store.get_meta("progress") == {"line": 2}
    stored = store.get_node(contact.ref)
    assert stored is not None and stored.props == contact.props
    assert (stored.provenance.first_seen, stored.provenance.last_seen) == (
        "2020-05-01", "2021-03-01",
    )
    assert store.delete(contact.ref)  # foreign keys are back on: its edge goes with it
    assert store.counts().edges == {}


def test_get_nodes_keeps_order_and_skips_missing(store: GraphStore) -> None:
    a, b = posting("A"), posting("B")
    store.upsert([a, b])
    refs = [b.ref, NodeRef(Label.POSTING, "nope"), a.ref]
    assert [n.key for n in store.get_nodes(refs)] == ["B", "A"]
    assert store.get_node(NodeRef(Label.SEIZURE, "A")) is None


def _star(store: GraphStore) -> None:
    """Two postings share a phone; P2 also has an email; the email also appears on P3."""
    p1, p2, p3 = posting("P1", day="2018-01-01"), posting("P2"), posting("P3", day="2023-06-01")
    ph = phone("+8613800138000", "2018-01-01")
    em = make_node(
        Label.IDENTIFIER, {"kind": "email", "value": "x@y.com"}, prov("2020-01-01", "2023-06-01")
    )
    plat = make_node(Label.PLATFORM, {"name": "chemb2b", "domain": "chemb2b.com"}, prov())
    store.upsert(
        [p1, p2, p3, ph, em, plat],
        [
            has(p1, ph),
            has(p2, ph),
            has(p2, em),
            has(p3, em),
            make_edge(RelType.POSTED_ON, p1.ref, plat.ref, prov()),
        ],
    )


def test_ego_network_by_depth(store: GraphStore) -> None:
    _star(store)
    one = store.ego([NodeRef(Label.POSTING, "P1")], depth=1)
    assert {n.key for n in one.nodes} == {"P1", "phone:+8613800138000", "chemb2b"}
    assert len(one.edges) == 2 and not one.truncated
    three = store.ego([NodeRef(Label.POSTING, "P1")], depth=3)
    assert {n.key for n in three.nodes} == {
        "P1",
        "P2",
        "phone:+8613800138000",
        "chemb2b",
        "email:x@y.com",
    }
    assert {(e.source.key, e.target.key) for e in three.edges} == {
        ("P1", "phone:+8613800138000"),
        ("P2", "phone:+8613800138000"),
        ("P2", "email:x@y.com"),
        ("P1", "chemb2b"),
    }


def test_ego_filters_kinds_and_dates(store: GraphStore) -> None:
    _star(store)
    seed = [NodeRef(Label.IDENTIFIER, "email:x@y.com")]
    only_postings = store.ego(seed, 2, NodeFilter(labels=frozenset({Label.POSTING})))
    assert {n.key for n in only_postings.nodes} == {"email:x@y.com", "P2", "P3"}
    before_2021 = store.ego(seed, 1, NodeFilter(until="2021-12-31"))
    assert {n.key for n in before_2021.nodes} == {"email:x@y.com", "P2"}
    since_2021 = store.ego(seed, 1, NodeFilter(since="2021-01-01"))
    assert {n.key for n in since_2021.nodes} == {"email:x@y.com", "P3"}
    by_rel = store.ego(
        [NodeRef(Label.POSTING, "P1")], 1, NodeFilter(rel_types=frozenset({RelType.POSTED_ON}))
    )
    assert {n.key for n in by_rel.nodes} == {"P1", "chemb2b"}


def test_ego_limit_truncates_in_key_order(store: GraphStore) -> None:
    hub = phone("+8613800138000")
    postings = [posting(f"P{i:02d}") for i in range(12)]
    store.upsert([hub, *postings], [has(p, hub) for p in postings])
    view = store.ego([hub.ref], depth=1, limit=5)
    assert view.truncated
    assert [n.key for n in view.nodes] == ["phone:+8613800138000", "P00", "P01", "P02", "P03"]
    assert len(view.edges) == 4
    whole = store.ego([hub.ref], depth=1, limit=13)
    assert not whole.truncated and len(whole.nodes) == 13


def test_search_finds_words_keys_and_filters_kinds(store: GraphStore) -> None:
    _star(store)
    store.upsert([posting("P9", "Acetic anhydride, Café supplier")])
    assert {n.key for n in store.search("anhydride")} == {"P9"}
    assert {n.key for n in store.search("CAFE")} == {"P9"}
    assert {n.key for n in store.search("x@y.com")} == {"email:x@y.com"}
    assert next(n.key for n in store.search("phone:+8613800138000")) == "phone:+8613800138000"
    titles = {n.key for n in store.search("glycidate", labels=[Label.POSTING])}
    assert titles == {"P1", "P2", "P3"}
    assert store.search("glycidate", labels=[Label.IDENTIFIER]) == []
    page = store.search("glycidate", limit=2, offset=2)
    assert len(page) == 1
    assert store.search('" OR 1=1 -- ; MATCH (n) DETACH DELETE n') == []
    assert store.counts().total_nodes == 7


def test_hostile_keys_are_stored_literally(store: GraphStore) -> None:
    key = "x'); DROP TABLE nodes; -- `} MATCH (n) DELETE n //"
    store.upsert([posting(key)])
    node = store.get_node(NodeRef(Label.POSTING, key))
    assert node is not None and node.key == key
    assert store.counts().nodes == {"Posting": 1}


def test_iterate_delete_and_derived_properties(store: GraphStore) -> None:
    _star(store)
    assert {n.key for n in store.iter_nodes(Label.POSTING)} == {"P1", "P2", "P3"}
    assert sum(1 for _ in store.iter_nodes()) == 6
    edges = list(store.iter_edges(RelType.HAS_IDENTIFIER))
    assert len(edges) == 4 and all(e.props.get("evidence") == "raw" for e in edges)
    assert store.set_properties(Label.POSTING, {"P1": {"cluster": "A1", "degree": 2}}) == 1
    node = store.get_node(NodeRef(Label.POSTING, "P1"))
    assert node is not None and node.props["cluster"] == "A1" and node.props["title"]
    assert store.delete(NodeRef(Label.IDENTIFIER, "phone:+8613800138000"))
    assert not store.delete(NodeRef(Label.IDENTIFIER, "phone:+8613800138000"))
    assert store.counts().edges == {"HAS_IDENTIFIER": 2, "POSTED_ON": 1}


def test_meta_round_trip(store: GraphStore) -> None:
    assert store.get_meta("analysis") is None
    store.put_meta("analysis", {"ran_at": "2024-01-01", "seed": 7})
    store.put_meta("analysis", {"ran_at": "2024-02-01", "seed": 7})
    assert store.get_meta("analysis") == {"ran_at": "2024-02-01", "seed": 7}


def test_documents_round_trip_in_the_order_first_put(store: GraphStore) -> None:
    assert store.get_document("case", "c1") is None
    assert store.list_documents("case") == (0, [])
    for key in ("c2", "c1", "c3"):
        store.put_document("case", key, {"id": key, "tags": ["a", "\u00e9"]})
    store.put_document("case", "c2", {"id": "c2", "name": "renamed"})
    store.put_document("annotation", "c1", {"id": "other collection"})
    assert store.get_document("case", "c2") == {"id": "c2", "name": "renamed"}
    total, items = store.list_documents("case")
    assert total == 3 and [d["id"] for d in items] == ["c2", "c1", "c3"]
    assert store.list_documents("case", limit=1, offset=1) == (3, [items[1]])
    assert [d["id"] for d in store.list_documents("case", newest_first=True)[1]] == [
        "c3", "c1", "c2"
    ]
    assert store.delete_document("case", "c1")
    assert not store.delete_document("case", "c1")
    assert store.list_documents("case")[0] == 2


def test_documents_stay_out_of_the_graph(store: GraphStore) -> None:
    _star(store)
    before = store.counts()
    store.put_document("case", "PMK", {"title": "PMK glycidate for sale", "key": "P1"})
    assert store.counts() == before
    assert len(list(store.iter_nodes())) == before.total_nodes
    assert {n.key for n in store.search("PMK glycidate")} == {"P1", "P2", "P3"}
    assert store.search_count("PMK glycidate") == 3
    store.clear()
    assert store.list_documents("case") == (0, [])


def test_clear_empties_the_store(store: GraphStore) -> None:
    _star(store)
    store.put_meta("x", {"a": 1})
    store.put_document("watch", "w1", {"a": 1})
    store.clear()
    assert store.get_document("watch", "w1") is None
    assert store.counts().total_nodes == 0
    assert store.get_meta("x") is None


def test_write_stats_count_each_kind(store: GraphStore) -> None:
    p, i = posting("P1"), phone("+8613800138000")
    stats = store.upsert([p, i, posting("P2")], [has(p, i)])
    assert stats.by_kind == {"Posting": [2, 0], "Identifier": [1, 0], "HAS_IDENTIFIER": [1, 0]}
    stats = store.upsert([posting("P1", title="changed")])
    assert stats.by_kind == {"Posting": [0, 1]}


def test_edge_list_is_the_light_projection(store: GraphStore) -> None:
    _star(store)
    a, b = posting("A"), posting("B")
    store.upsert([a, b], [make_edge(RelType.LINKED_TO, a.ref, b.ref, prov(), {"weight": 3.5})])
    every = set(store.edge_list())
    assert len(every) == 6
    assert set(store.edge_list([RelType.LINKED_TO])) == {(a.ref, b.ref, RelType.LINKED_TO, 3.5)}
    assert {(s.key, t.key) for s, t, _, _ in store.edge_list([RelType.POSTED_ON])} == {
        ("P1", "chemb2b")
    }
    assert list(store.edge_list([])) == []


def test_delete_edges_by_type_and_kinds(store: GraphStore) -> None:
    _star(store)
    a, b = posting("A"), posting("B")
    store.upsert([a, b], [make_edge(RelType.LINKED_TO, a.ref, b.ref, prov())])
    assert store.delete_edges(RelType.LINKED_TO, Label.IDENTIFIER, Label.POSTING) == 0
    assert store.delete_edges(RelType.LINKED_TO, Label.POSTING, Label.POSTING) == 1
    assert store.delete_edges(RelType.HAS_IDENTIFIER) == 4
    assert store.counts().edges == {"POSTED_ON": 1}
    assert store.counts().nodes["Identifier"] == 2


def test_search_count_matches_search(store: GraphStore) -> None:
    _star(store)
    store.upsert([posting("P9", "Acetic anhydride supplier")])
    for text, labels in [("glycidate", None), ("glycidate", [Label.IDENTIFIER]),
                         ("x@y.com", None), ("phone:+8613800138000", None), ("nothing", None),
                         ("P1", [Label.POSTING])]:
        assert store.search_count(text, labels) == len(store.search(text, labels, limit=100))


def test_degree_counts_edges_both_ways(store: GraphStore) -> None:
    _star(store)
    assert store.degree(NodeRef(Label.POSTING, "P2")) == 2
    assert store.degree(NodeRef(Label.IDENTIFIER, "phone:+8613800138000")) == 2
    assert store.degree(NodeRef(Label.POSTING, "P1")) == 2
    assert store.degree(NodeRef(Label.POSTING, "nope")) == 0


def test_a_hub_view_reads_a_slice_and_says_it_is_truncated(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import graph.sqlite_store

    monkeypatch.setattr(graph.sqlite_store, "HUB_FANOUT", 5)
    hub = phone("+8613800138000")
    postings = [posting(f"P{i:02d}") for i in range(12)]
    store.upsert([hub, *postings], [has(p, hub) for p in postings])
    view = store.ego([hub.ref], depth=1, limit=8)
    assert view.truncated and 6 <= len(view.nodes) <= 8
    keys = [n.key for n in view.nodes[1:]]
    assert keys == sorted(keys)


def test_repeats_sharing_one_props_dict_still_widen_first_and_last_seen(
    store: GraphStore,
) -> None:
    # ingest shares one props dict among a contact's repeats in a batch (entities memo)
    template = phone("+8613800138000")
    days = ["2020-05-01", "2019-01-01", "2021-03-01", "2020-06-01"]
    repeats = [make_node(Label.IDENTIFIER, template.props, prov(day)) for day in days]
    shared = [type(n)(n.label, n.key, template.props, n.provenance) for n in repeats]
    assert store.upsert(shared).nodes_created == 1
    node = store.get_node(template.ref)
    assert node is not None
    assert (node.provenance.first_seen, node.provenance.last_seen) == ("2019-01-01", "2021-03-01")


def test_edges_to_new_and_to_stored_nodes_in_one_batch(store: GraphStore) -> None:
    p1, hub = posting("P1"), phone("+8613800138000")
    store.upsert([p1, hub], [has(p1, hub, "a")])
    p2 = posting("P2")
    # P2 is new (its edge cannot be stored yet); P1 is not in the batch, only its edge is
    stats = store.upsert([p2, hub], [has(p2, hub, "b"), has(p1, hub, "a")])
    assert (stats.edges_created, stats.edges_updated, stats.edges_unchanged) == (1, 0, 1)
    stats = store.upsert([], [has(p1, hub, "c")])
    assert (stats.edges_created, stats.edges_updated) == (0, 1)
    evidence = {e.source.key: e.props["evidence"] for e in store.iter_edges()}
    assert evidence == {"P1": "c", "P2": "b"}


def test_search_tokens_split_at_non_alphanumerics_and_fold_case_and_accents() -> None:
    from graph.store import search_tokens

    assert search_tokens("PMK-glycidate_99% @Chem.Vendor x2") == [
        "pmk", "glycidate", "99", "chem", "vendor", "x2",
    ]  # fmt: skip
    assert search_tokens("Ácido FENILACÉTICO, Straße") == ["acido", "fenilacetico", "strasse"]
    assert search_tokens("微信 abc") == ["微信", "abc"]
    assert search_tokens(" -_- ") == []


def test_an_edge_from_a_new_node_stores_what_a_merged_edge_stores(store: GraphStore) -> None:
    # Neo4j CREATEs an edge with an endpoint new in the batch and MERGEs the others: the
    # two must store the same properties and provenance, and both re-ingest as unchanged
    p1, hub = posting("P1"), phone("+8613800138000")
    store.upsert([p1, hub])
    p2 = posting("P2")
    bare = Provenance("test", None, None, None, "2024-01-01T00:00:00Z")

    def edge(source):
        return make_edge(RelType.HAS_IDENTIFIER, source.ref, hub.ref, bare,
                         {"evidence": ["raw"], "note": None, "weight": 0.5})

    stats = store.upsert([p2], [edge(p2), edge(p1)])
    assert (stats.nodes_created, stats.edges_created, stats.edges_updated) == (1, 2, 0)
    stored = {e.source.key: (e.props, e.provenance) for e in store.iter_edges()}
    assert stored["P1"] == stored["P2"]
    again = store.upsert([p2], [edge(p2), edge(p1)])
    assert (again.edges_created, again.edges_updated, again.edges_unchanged) == (0, 0, 2)


def test_clear_empties_a_store_bigger_than_one_delete_chunk(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    if hasattr(store, "clear_chunk"):  # Neo4j deletes in chunks: make this store span many
        monkeypatch.setattr(store, "clear_chunk", 7)
    hub = phone("+8613800138000")
    postings = [posting(f"P{i:02d}") for i in range(40)]
    store.upsert([hub, *postings], [has(p, hub) for p in postings])
    store.clear()
    assert (store.counts().nodes, store.counts().edges) == ({}, {})
    assert store.upsert([hub]).nodes_created == 1


def test_prepared_rows_read_back_as_the_merged_batch_and_write_like_upsert(
    store: GraphStore,
) -> None:
    # ingest workers run the store class's prepare_rows and pickle the result to the
    # writer; a watched ingest reads it back as nodes and edges
    p, hub = posting("P1"), phone("+8613800138000", "2020-05-01")
    nodes = [p, hub, phone("+8613800138000", "2019-01-01")]
    edges = [has(p, hub), has(p, hub, "again")]
    prepared = type(store).prepare_rows(nodes, edges)

    def ordered(batch):
        found, links = batch
        return sorted(found, key=lambda n: str(n.ref)), sorted(links, key=str)

    assert ordered(prepared.entities()) == ordered(merge_batch(nodes, edges))
    stats = store.upsert_rows(pickle.loads(pickle.dumps(prepared)))
    assert (stats.nodes_created, stats.edges_created, stats.by_kind["Posting"]) == (2, 1, [1, 0])
    again = store.upsert_rows(type(store).prepare_rows(nodes, edges))
    assert (again.nodes_unchanged, again.edges_unchanged) == (2, 1)
    edge = next(store.iter_edges())
    assert edge.props == {"evidence": "again"} and edge.provenance.first_seen == "2020-01-01"


def test_sqlite_group_commits_every_n_upserts_and_before_another_thread_goes_on(
    tmp_path,
) -> None:
    # readers elsewhere see a group only once committed; a thread of the same store (a web
    # request during an API ingest) commits it first, so it never reads or writes inside
    # the ingest's open transaction
    store = SQLiteStore(tmp_path / "grouped.db")
    outside = sqlite3.connect(tmp_path / "grouped.db")

    def committed() -> int:
        return outside.execute("SELECT count(*) FROM nodes").fetchone()[0]

    with store.grouped_commits(2):
        store.upsert([posting("P1")])
        assert committed() == 0
        store.upsert([posting("P2")])
        assert committed() == 2
        store.upsert([posting("P3")])
        assert committed() == 2
        elsewhere: list[dict[str, int]] = []
        reader = threading.Thread(target=lambda: elsewhere.append(store.counts().nodes))
        reader.start()
        reader.join()
        assert elsewhere == [{"Posting": 3}] and committed() == 3
        store.upsert([posting("P4")])
    assert committed() == 4
    outside.close()
    store.close()


def test_sqlite_grouped_upserts_get_a_bigger_page_cache_and_give_it_back(tmp_path) -> None:
    # an ingest's group keeps its pages in memory until its commit; a server's connection
    # goes back to the usual cache once the ingest ends, or fails
    store = SQLiteStore(tmp_path / "cache.db")

    def cache_kib() -> int:
        return -store._db.execute("PRAGMA cache_size").fetchone()[0]

    assert cache_kib() == CACHE_KIB
    with store.grouped_commits(4):
        store.upsert([posting("P1")])
        assert cache_kib() == GROUPED_CACHE_KIB > CACHE_KIB
    assert cache_kib() == CACHE_KIB
    with pytest.raises(RuntimeError), store.grouped_commits(4):
        raise RuntimeError("ingest stopped")
    assert cache_kib() == CACHE_KIB
    with store.grouped_commits(4):  # a server shutting down mid-ingest
        store.upsert([posting("P2")])
        store.close()
    assert SQLiteStore(tmp_path / "cache.db").counts().nodes == {"Posting": 2}
