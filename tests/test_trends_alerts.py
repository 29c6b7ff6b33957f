"""Trends, the substitution signal, registry and takedown alerts, on demo data."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import load_demo

from graph.alerts import Reappearance, reappearances, registry_alerts
from graph.checks import ALERTS_META, run_checks
from graph.linking import link_actors
from graph.schema import Label, NodeRef, Provenance, RelType, make_edge, make_node
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore
from graph.trends import period_of, substance_trends, substitution_signals

PMK_METHYL, PMK_ETHYL, FLAT = "13605-48-6", "28578-16-7", "1451-82-7"


def test_periods() -> None:
    assert period_of("2019-11-04", "month") == "2019-11"
    assert period_of("2019-11-04T10:00:00", "quarter") == "2019-Q4"
    assert period_of("2019-02-01", "year") == "2019"
    with pytest.raises(ValueError, match="unknown period"):
        period_of("2019-02-01", "week")


def test_trends_and_substitution_on_demo_data(
    store: GraphStore, demo_world: Path, tmp_path: Path
) -> None:
    load_demo(store, demo_world, tmp_path)
    series = {s.key: s for s in substance_trends(store, "year")}
    methyl = series[PMK_METHYL]
    assert methyl.in_force == "2019-11-19"
    assert sum(methyl.offers.get(y, 0) for y in ("2017", "2018")) > 3 * sum(
        methyl.offers.get(y, 0) for y in ("2021", "2022")
    )
    assert any(s.seizures for s in series.values())
    signals = {(s.scheduled, s.substitute): s for s in substitution_signals(store)}
    assert (PMK_METHYL, PMK_ETHYL) in signals
    pmk = signals[(PMK_METHYL, PMK_ETHYL)]
    assert (
        pmk.scheduled_after < pmk.scheduled_before and pmk.substitute_before < pmk.substitute_after
    )
    assert not any(FLAT in pair for pair in signals)  # never scheduled: no signal
    assert FLAT in series and series[FLAT].in_force is None


def test_checks_write_alerts_back(store: GraphStore, demo_world: Path, tmp_path: Path) -> None:
    load_demo(store, demo_world, tmp_path)
    link_actors(store)
    counts = run_checks(store)
    assert counts["registry_alerts"] > 0 and counts["reappearances"] > 0
    meta = store.get_meta(ALERTS_META)
    assert meta is not None and len(meta["registry"]) == counts["registry_alerts"]
    flagged = meta["registry"][0]
    node = store.get_node(NodeRef(Label.POSTING, flagged["posting"]))
    assert node is not None and node.props["registry_alert"] == flagged["reason"]
    repost = meta["reappearances"][0]
    assert repost["removed_platform"] != repost["reposted_platform"]
    assert repost["reposted_at"][:10] >= repost["removed_at"][:10]
    edges = {(s.key, t.key) for s, t, _, _ in store.edge_list([RelType.REAPPEARS_AS])}
    assert (repost["removed"], repost["reposted"]) in edges


def _world(store: GraphStore) -> None:
    """A licensed operator for acetic anhydride and two offers: one from its own phone,
    one from an impersonator naming it with another phone; a removed posting reposted."""
    prov = Provenance("t", None, "2023-01-01", "2023-01-01")
    aa = make_node(Label.SUBSTANCE, {"key": "108-24-7", "name": "Acetic anhydride"}, prov)
    op = make_node(
        Label.OPERATOR,
        {"id": "O1", "name": "Acme GmbH", "valid_from": "2020-01-01", "valid_to": "2025-12-31"},
        prov,
    )
    acme = make_node(Label.COMPANY, {"name": "Acme GmbH", "normalised": "acme"}, prov)
    good = make_node(Label.IDENTIFIER, {"kind": "phone", "value": "+491511234567"}, prov)
    bad = make_node(Label.IDENTIFIER, {"kind": "phone", "value": "+8613800138000"}, prov)
    licensed = make_node(
        Label.POSTING,
        {"id": "L", "kind": "offer", "posted_at": "2023-01-01", "platform": "a"},
        prov,
    )
    fake = make_node(
        Label.POSTING,
        {
            "id": "F",
            "kind": "offer",
            "posted_at": "2023-01-01",
            "platform": "a",
            "removed_at": "2023-02-01",
        },
        prov,
    )
    repost = make_node(
        Label.POSTING,
        {"id": "R", "kind": "offer", "posted_at": "2023-02-10", "platform": "b"},
        prov,
    )
    edges = (
        [make_edge(RelType.REGISTERED_FOR, op.ref, s, prov) for s in (aa.ref, acme.ref, good.ref)]
        + [
            make_edge(RelType.MENTIONS, p.ref, aa.ref, prov, {"controlled": True})
            for p in (licensed, fake)
        ]
        + [
            make_edge(RelType.MENTIONS, fake.ref, acme.ref, prov),
            make_edge(RelType.HAS_IDENTIFIER, licensed.ref, good.ref, prov),
            make_edge(RelType.HAS_IDENTIFIER, fake.ref, bad.ref, prov),
            make_edge(RelType.HAS_IDENTIFIER, repost.ref, bad.ref, prov),
        ]
    )
    store.upsert([aa, op, acme, good, bad, licensed, fake, repost], edges)


def test_registry_check_flags_the_impersonator_not_the_licensee(store: GraphStore) -> None:
    _world(store)
    alerts = registry_alerts(store)
    assert [(a.posting, a.operator) for a in alerts] == [("F", "O1")]
    assert "names licensed operator 'Acme GmbH'" in alerts[0].reason


def test_reappearance_names_old_and_new_posting(store: GraphStore) -> None:
    _world(store)
    found = reappearances(store)
    assert [(r.removed, r.reposted, r.identifiers) for r in found] == [
        ("F", "R", ["phone:+8613800138000"])
    ]


def test_sqlite_bulk_reads_equal_the_generic_ones(demo_world: Path, tmp_path: Path) -> None:
    """The checks read postings and edges through SQLite's one-query overrides: they must
    give what the generic reads of whole nodes and edges give (Neo4j uses those), analysis
    results (as linking's hub flags) overriding ingested properties."""
    with SQLiteStore(tmp_path / "prexus.db") as store:
        load_demo(store, demo_world, tmp_path)
        postings = [key for key, _ in store.node_values(Label.POSTING, ())]
        identifiers = [key for key, _ in store.node_values(Label.IDENTIFIER, ())]
        store.set_properties(Label.IDENTIFIER, {key: {"hub": True} for key in identifiers[:3]})
        store.set_properties(Label.IDENTIFIER, {key: {"hub": False} for key in identifiers[3:9]})
        store.set_properties(Label.POSTING, {postings[0]: {"kind": "request", "cluster": "c1"}})
        store.set_properties(Label.POSTING, {postings[1]: {"platform": None}})
        fields = ("posted_at", "kind", "platform", "removed_at", "cluster", "missing")
        for label, names in ((Label.POSTING, fields), (Label.IDENTIFIER, ("hub", "kind"))):
            fast = list(store.node_values(label, names))
            assert fast == list(GraphStore.node_values(store, label, names))
            assert len(fast) == store.counts().nodes[label]
        assert any(hub for _, _, hub, _ in store.node_values(Label.IDENTIFIER, ("hub", "kind")))
        for rel, names in ((RelType.MENTIONS, ("controlled", "via")), (RelType.HAS_IDENTIFIER, ())):
            fast_edges = list(store.edge_values(rel, names))
            assert fast_edges == list(GraphStore.edge_values(store, rel, names))
            assert fast_edges


def _brute_force_reappearances(
    postings: list[dict[str, str]], idents: dict[str, set[str]], hubs: set[str], window: int
) -> list[Reappearance]:
    """The definition, checked pair by pair: for each removed posting, per other platform,
    the earliest (date, key) posting within the window sharing a non-hub identifier."""
    found = []
    for old in postings:
        if not old.get("removed_at"):
            continue
        start = old["removed_at"][:10]
        limit = (date.fromisoformat(start) + timedelta(days=window)).isoformat()
        first_on: dict[str, Reappearance] = {}
        for new in postings:
            shared = (idents[old["id"]] & idents[new["id"]]) - hubs
            if new is old or new["platform"] == old["platform"] or not shared:
                continue
            if not start <= new["posted_at"][:10] <= limit:
                continue
            have = first_on.get(new["platform"])
            if have is None or (new["posted_at"], new["id"]) < (have.reposted_at, have.reposted):
                first_on[new["platform"]] = Reappearance(
                    old["id"], old["platform"], old["removed_at"], new["id"], new["platform"],
                    new["posted_at"], sorted(f"phone:{i}" for i in shared),
                )  # fmt: skip
        found += sorted(first_on.values(), key=lambda r: (r.reposted_at, r.reposted))
    return found


def test_reappearances_equal_a_pairwise_check(store: GraphStore) -> None:
    """Reappearances read each identifier's postings by date window: a random world with
    shared phones, a hub, same-platform and same-day reposts and removals near the window's
    edges must give exactly what checking every pair gives."""
    rng = random.Random(4)
    prov = Provenance("t", None, "2023-01-01", "2023-01-01")
    phones = [f"+4915100000{n:02d}" for n in range(12)]
    hub = phones[0]
    postings: list[dict[str, str]] = []
    idents: dict[str, set[str]] = {}
    for n in range(80):
        day = date(2023, 1, 1) + timedelta(days=rng.randrange(150))
        posting = {"id": f"P{n:03d}", "kind": "offer", "platform": rng.choice("abc")}
        posting["posted_at"] = day.isoformat() + rng.choice(["", "T08:00:00", "T20:00:00"])
        if rng.random() < 0.3:
            posting["removed_at"] = (day + timedelta(days=rng.randrange(30))).isoformat()
        postings.append(posting)
        idents[posting["id"]] = set(rng.sample(phones, rng.randrange(1, 3)))
    nodes = [make_node(Label.POSTING, p, prov) for p in postings]
    phone_nodes = {
        phone: make_node(Label.IDENTIFIER, {"kind": "phone", "value": phone}, prov)
        for phone in phones
    }
    edges = [
        make_edge(RelType.HAS_IDENTIFIER, node.ref, phone_nodes[phone].ref, prov)
        for node in nodes
        for phone in sorted(idents[node.key])
    ]
    store.upsert([*phone_nodes.values(), *nodes], edges)
    store.set_properties(Label.IDENTIFIER, {phone_nodes[hub].key: {"hub": True}})
    expected = _brute_force_reappearances(postings, idents, {hub}, 60)
    assert len(expected) > 10
    assert reappearances(store) == expected
