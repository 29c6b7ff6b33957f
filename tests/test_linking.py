"""Actor clusters on demo data, scored against its ground truth, on both stores."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import load_demo

from graph.linking import (
    CLUSTERS_META,
    DECISIONS_META,
    Incidence,
    LinkingSettings,
    cluster_id,
    cluster_records,
    explain,
    explain_cluster,
    link_actors,
    record_decision,
)
from graph.schema import Label, NodeRef, Provenance, RelType, make_edge, make_node
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore


def pairwise_scores(predicted: dict[str, str], truth: dict[str, str]) -> tuple[float, float]:
    """Pairwise precision and recall: of the pairs put together, how many belong together,
    and of the pairs that belong together, how many were put together."""

    def pairs(groups: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in groups.values())

    ids = [i for i in truth if i in predicted]
    together = pairs(Counter((predicted[i], truth[i]) for i in ids))
    predicted_pairs = pairs(Counter(predicted[i] for i in ids))
    true_pairs = pairs(Counter(truth[i] for i in ids))
    return together / predicted_pairs, together / true_pairs


def naive_clusters(incidence: Incidence) -> dict[str, str]:
    """Connected components over every shared identifier: the baseline."""
    parent: dict[object, object] = {}

    def find(x: object) -> object:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for record, idents in incidence.record_ids.items():
        for ident in idents:
            parent[find(record)] = find(ident)
    return {r.key: str(find(r)) for r in incidence.record_ids if r.label is Label.POSTING}


def truth_of(world: Path, name: str) -> dict[str, str]:
    rows = [json.loads(line) for line in (world / "truth" / name).read_text().splitlines()]
    return {r["id"]: r["actor"] for r in rows}


def test_clusters_beat_the_naive_baseline_on_demo_truth(
    store: GraphStore, demo_world: Path, tmp_path: Path
) -> None:
    load_demo(store, demo_world, tmp_path)
    result = link_actors(store)
    truth = truth_of(demo_world, "postings.jsonl")
    predicted = {r.key: cid for cid, rs in result.members.items() for r in rs
                 if r.label is Label.POSTING}
    precision, recall = pairwise_scores(predicted, truth)
    naive_precision, naive_recall = pairwise_scores(naive_clusters(Incidence.load(store)),
                                                    truth)
    print(f"clusters P={precision:.4f} R={recall:.4f}; "
          f"naive P={naive_precision:.4f} R={naive_recall:.4f}")
    assert precision >= 0.95 and recall >= 0.95
    assert naive_precision < 0.5  # footers and escrow glue everyone together
    hubs = {h.key for h in result.hubs}
    assert "email:info@example-escrow.com" in hubs
    assert "email:service@chemb2b-market.com" in hubs
    escrow = store.get_node(NodeRef(Label.IDENTIFIER, "email:info@example-escrow.com"))
    assert escrow is not None and escrow.props["hub"] is True
    assert result.weak_links, "broker handles should link, not merge, two vendors"
    # stored: an Actor per cluster, MEMBER_OF edges, a cluster id on every posting
    assert store.counts().nodes["Actor"] == len(result.members)
    posting = store.get_node(NodeRef(Label.POSTING, "P0000001"))
    assert posting is not None and posting.props["cluster"] in result.members


def test_seizures_join_their_vendor(store: GraphStore, demo_world: Path, tmp_path: Path) -> None:
    load_demo(store, demo_world, tmp_path)
    result = link_actors(store)
    postings = truth_of(demo_world, "postings.jsonl")
    actor_of_cluster = {}
    for cid, records in result.members.items():
        votes = Counter(postings[r.key] for r in records if r.key in postings)
        if votes:
            actor_of_cluster[cid] = votes.most_common(1)[0][0]
    seized = truth_of(demo_world, "seizures.jsonl")
    cluster_of = {r.key: cid for cid, rs in result.members.items() for r in rs
                  if r.label is Label.SEIZURE}
    linked = {s: actor_of_cluster.get(cluster_of[s]) for s in seized}
    wrong = [s for s, actor in linked.items() if actor is not None and actor != seized[s]]
    right = [s for s, actor in linked.items() if actor is not None and actor == seized[s]]
    assert not wrong
    assert len(right) >= 0.5 * sum(1 for a in seized.values() if a)


def test_ids_are_stable_and_a_merge_keeps_the_larger_id(store: GraphStore,
                                                       tmp_path: Path) -> None:
    prov = Provenance("t", None, "2020-01-01", "2020-01-01")

    def post(pid: str, *phones: str) -> tuple[list, list]:
        p = make_node(Label.POSTING, {"id": pid}, prov)
        nodes, edges = [p], []
        for phone in phones:
            i = make_node(Label.IDENTIFIER, {"kind": "phone", "value": phone}, prov)
            nodes.append(i)
            edges.append(make_edge(RelType.HAS_IDENTIFIER, p.ref, i.ref, prov))
        return nodes, edges

    def add(*posts: tuple[list, list]) -> None:
        store.upsert([n for p in posts for n in p[0]], [e for p in posts for e in p[1]])

    add(post("a1", "+1"), post("a2", "+1"), post("a3", "+1"), post("b1", "+2"))
    first = link_actors(store)
    again = link_actors(store)
    assert first.members.keys() == again.members.keys()
    big = next(c for c, rs in first.members.items() if len(rs) == 3)
    small = next(c for c, rs in first.members.items() if len(rs) == 1)
    add(post("a4", "+1"))  # new data joining keeps the id
    assert big in link_actors(store).members
    add(post("ab", "+1", "+2"))  # a posting with both phones merges the two
    merged = link_actors(store)
    assert big in merged.members and small not in merged.members
    assert {"into": big, "absorbed": small} in [
        {k: m[k] for k in ("into", "absorbed")} for m in merged.merges]
    assert store.get_node(NodeRef(Label.ACTOR, small)) is None


def test_analyst_split_and_merge_decisions_are_respected(store: GraphStore) -> None:
    prov = Provenance("t", None, None, None)
    p = [make_node(Label.POSTING, {"id": f"p{i}"}, prov) for i in range(3)]
    ident = make_node(Label.IDENTIFIER, {"kind": "email", "value": "a@b.c"}, prov)
    store.upsert([*p, ident], [make_edge(RelType.HAS_IDENTIFIER, x.ref, ident.ref, prov)
                               for x in p[:2]])
    store.put_meta(DECISIONS_META, {"decisions": [
        {"action": "split", "records": ["Posting:p1"], "by": "ana", "at": "2024-01-01"},
        {"action": "merge", "records": ["Posting:p1", "Posting:p2"], "by": "ana",
         "at": "2024-01-02"},
    ]})
    result = link_actors(store)
    groups = sorted(sorted(r.key for r in rs) for rs in result.members.values())
    assert groups == [["p0"], ["p1", "p2"]]


def test_every_cluster_explains_itself(store: GraphStore, demo_world: Path,
                                       tmp_path: Path) -> None:
    load_demo(store, demo_world, tmp_path)
    result = link_actors(store)
    members = max(result.members.values(), key=len)
    postings = [r for r in members if r.label is Label.POSTING]
    steps, confidence = explain(store, postings[0], postings[-1])
    assert steps and 0 < confidence <= 1
    assert steps[0].from_record == str(postings[0]) and steps[-1].to_record == str(postings[-1])
    hubs = {str(h) for h in result.hubs}
    for step in steps:
        assert step.via not in hubs and step.evidence, step
    other = next(rs for rs in result.members.values() if rs is not members)
    assert explain(store, postings[0], other[0]) == ([], 0.0)


def test_hub_and_bridge_settings_are_honoured() -> None:
    """A bridge between two established groups links them; a lower bar merges them."""
    def ident(v: str) -> NodeRef:
        return NodeRef(Label.IDENTIFIER, f"phone:{v}")

    records = {}
    for i in range(6):  # vendor A: identifiers a1, a2 together; vendor B: b1, b2
        records[NodeRef(Label.POSTING, f"a{i}")] = frozenset({ident("a1"), ident("a2")})
        records[NodeRef(Label.POSTING, f"b{i}")] = frozenset({ident("b1"), ident("b2")})
    records[NodeRef(Label.POSTING, "a-broker")] = frozenset({ident("a1"), ident("k")})
    records[NodeRef(Label.POSTING, "b-broker")] = frozenset({ident("b1"), ident("k")})
    records[NodeRef(Label.POSTING, "k-own")] = frozenset({ident("k"), ident("k2")})
    incidence = Incidence(records)
    linked = cluster_records(incidence)
    assert len(linked.members) == 3 and len(linked.weak_links) == 2
    merged = cluster_records(incidence, LinkingSettings(bridge_min_identifiers=3))
    assert len(merged.members) == 1


def test_decisions_are_recorded_and_clusters_explain_their_ties(
    store: GraphStore, demo_world: Path, tmp_path: Path
) -> None:
    load_demo(store, demo_world, tmp_path)
    result = link_actors(store)
    cid, members = max(result.members.items(), key=lambda kv: len(kv[1]))
    why = explain_cluster(store, cid)
    assert why["members"] == len(members) and why["ties"]
    top = why["ties"][0]
    assert top["records"] > 1 and top["evidence"] and 0 < top["weight"] <= 1
    assert set(why["hubs_not_used"]) <= {str(h) for h in result.hubs}
    tied_via = {t["via"] for t in why["ties"]}
    assert not tied_via & {str(h) for h in result.hubs}
    with pytest.raises(ValueError, match="unknown decision"):
        record_decision(store, "delete", members[:1], "ana")
    detached = [r for r in members if r.label is Label.POSTING][:2]
    decision = record_decision(store, "split", detached, "ana", "different style")
    assert decision["by"] == "ana" and decision["at"]
    after = link_actors(store)
    assert cid in after.members  # the larger part keeps the id
    assert not set(detached) & set(after.members[cid])
    assert any(sorted(rs, key=str) == sorted(detached, key=str) for rs in after.members.values())


def stored_clusters(store: GraphStore) -> dict[str, object]:
    """What linking left in a store, with cluster ids replaced by their members: a re-run
    keeps earlier ids where a fresh run derives new ones, the rest must be equal."""
    members: dict[str, set[str]] = {}
    provenance = set()
    for edge in store.iter_edges(RelType.MEMBER_OF):
        members.setdefault(edge.target.key, set()).add(str(edge.source))
        provenance.add((edge.provenance.source, edge.provenance.ingested_at))
        assert edge.props == {"confidence": store.get_node(edge.target).props["confidence"]}
    actors = {}
    for actor in store.iter_nodes(Label.ACTOR):
        props = {k: v for k, v in actor.props.items() if k != "id"}
        actors[frozenset(members.pop(actor.key))] = props
    assert not members, "MEMBER_OF edges to no actor"
    cluster_of = {str(r): frozenset(rs) for rs in actors for r in rs}
    for label in (Label.POSTING, Label.IDENTIFIER):
        for node in store.iter_nodes(label):
            if label is Label.POSTING:
                group = next(g for g in actors if str(node.ref) in g)
                actor = store.get_node(NodeRef(Label.ACTOR, str(node.props["cluster"])))
                assert actor is not None and actor.props["size"] == len(group)
                assert cluster_of[str(node.ref)] == group
    ran_at = (store.get_meta(CLUSTERS_META) or {})["ran_at"]
    assert provenance == {("prexus-analyze", ran_at)}, "MEMBER_OF edges as a fresh write"
    hubs = {n.key: n.props.get("hub") for n in store.iter_nodes(Label.IDENTIFIER)}
    return {"actors": actors, "hubs": hubs}


def test_a_rerun_after_new_data_stores_what_a_fresh_run_stores(
    store: GraphStore, tmp_path: Path
) -> None:
    """Re-runs write only what changed (memberships, cluster ids, hub flags); what they
    leave must equal a run from scratch on the same data, on either store."""
    prov = Provenance("t", None, "2020-01-01", "2020-01-01")
    batches: list[tuple[list, list]] = []

    def add(target: GraphStore, pid: str, *contacts: str) -> None:
        p = make_node(Label.POSTING, {"id": pid}, prov)
        nodes = [
            make_node(Label.IDENTIFIER, {"kind": "telegram" if v[0] == "@" else "phone",
                                         "value": v}, prov)
            for v in contacts
        ]
        edges = [make_edge(RelType.HAS_IDENTIFIER, p.ref, i.ref, prov) for i in nodes]
        target.upsert([p, *nodes], edges)
        if target is store:
            batches.append(([p, *nodes], edges))

    for pid, phone in [("a1", "+1"), ("a2", "+1"), ("a3", "+1"), ("b1", "+2"), ("c1", "+3"),
                       ("c2", "+3"), ("c3", "+3")]:  # fmt: skip
        add(store, pid, phone)
    hub_phones = [f"+9{i}" for i in range(30)]  # one posting shows 30 numbers: +90 turns hub
    for i, phone in enumerate(hub_phones):
        add(store, f"h{i}", phone, "+90")
    link_actors(store)
    add(store, "ab", "+1", "+2", "@ab")  # merges a and b (b's actor goes), a new confidence
    add(store, "d1", "+4")  # a new actor
    record_decision(store, "split", [NodeRef(Label.POSTING, "c3")], "ana")  # c3 leaves c
    rerun = link_actors(store)
    assert {m["absorbed"] for m in rerun.merges}
    fresh = SQLiteStore(tmp_path / "fresh.db")
    for nodes, edges in batches:
        fresh.upsert(nodes, edges)
    fresh.put_meta(DECISIONS_META, store.get_meta(DECISIONS_META) or {})
    link_actors(fresh)
    assert stored_clusters(store) == stored_clusters(fresh)
    fresh.close()


def test_reading_by_row_ids_equals_reading_by_refs(demo_world: Path, tmp_path: Path) -> None:
    """SQLite's incidence comes from integer rows; it must equal edge_list's, order and
    all (the order of records decides ties in weak-bridge homes)."""
    store = SQLiteStore(tmp_path / "rows.db")
    load_demo(store, demo_world, tmp_path)

    class ByRefs:  # what a store without row ids offers the loader
        edge_list = store.edge_list

    by_ids = Incidence.load(store)
    by_refs = Incidence.load(ByRefs())  # type: ignore[arg-type]
    assert list(by_ids.record_ids.items()) == list(by_refs.record_ids.items())
    assert by_ids.name_links == by_refs.name_links and by_ids.name_links
    store.close()


def test_without_hubs_bridges_or_names_clusters_are_components_in_name_order(
    demo_world: Path, tmp_path: Path
) -> None:
    """Clustering numbers records and identifiers in name order: whatever order records
    come in, each cluster is a connected component, its members in name order, its new id
    derived from its alphabetically first member, the clusters largest first (ties in the
    order of their first member)."""
    store = SQLiteStore(tmp_path / "components.db")
    load_demo(store, demo_world, tmp_path)
    loaded = Incidence.load(store)
    store.close()
    records = dict(reversed(list(loaded.record_ids.items())))  # not in name order
    records[NodeRef(Label.POSTING, "zz-alone")] = frozenset()
    plain = LinkingSettings(hub_min_spread=10**9, bridge_min_identifiers=10**9)
    result = cluster_records(Incidence(records), plain)
    components = naive_clusters(Incidence(records))
    assert len(components) > len(set(components.values())) > 1
    assert not result.hubs and not result.weak_links and not result.merges
    for cid, members in result.members.items():
        assert members == sorted(members, key=str) and cid == cluster_id(members[0])
        postings = [r.key for r in members if r.label is Label.POSTING]
        assert len({components[key] for key in postings}) <= 1
    assert sum(len(rs) for rs in result.members.values()) == len(records)
    assert len({components[key] for key in components}) == sum(
        any(r.label is Label.POSTING for r in rs) for rs in result.members.values()
    )
    order = [(-len(rs), str(rs[0])) for rs in result.members.values()]
    assert order == sorted(order)
