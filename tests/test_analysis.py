"""Network analysis: CAVIAR reference figures through ingest and both stores, brokers,
determinism of the seeded measures, bounded paths, re-runs and the run's metadata."""

from __future__ import annotations

import csv
import random
from itertools import pairwise
from pathlib import Path

import networkx as nx
import pytest

from graph import analysis
from graph.analysis import (
    brokers,
    canonical_graph,
    centrality,
    communities,
    core_numbers,
    installed_backends,
    project,
    run_analysis,
    shortest_paths,
)
from graph.schema import Label, NodeRef, Provenance, RelType, make_edge, make_node
from graph.store import GraphStore

CAVIAR = Path(__file__).parent / "data" / "caviar" / "caviar_full.csv"
REFERENCE_DEGREE = [("1", 60), ("12", 28), ("3", 27), ("87", 16), ("76", 15)]
REFERENCE_BETWEENNESS = [("1", 0.637), ("12", 0.292), ("87", 0.119), ("76", 0.115), ("3", 0.105)]
MEASURES = {
    "degree",
    "degree_norm",
    "betweenness",
    "pagerank",
    "eigenvector",
    "component",
    "community",
    "core",
    "articulation",
}


def person(key: str) -> NodeRef:
    return NodeRef(Label.PERSON, key)


def caviar_edges() -> list[tuple[NodeRef, NodeRef, float]]:
    """The CSV read directly, without the store: the independent check of what ingest wrote."""
    with CAVIAR.open(newline="") as handle:
        return [
            (person(row["source"]), person(row["target"]), float(row["weight"]))
            for row in csv.DictReader(handle)
        ]


def caviar_graph() -> nx.Graph:
    graph = nx.Graph()
    graph.add_edges_from((str(a), str(b)) for a, b, _ in caviar_edges())
    return graph


def load_caviar(store: GraphStore, tmp_path: Path) -> None:
    from ingest.loader import ingest_files

    summary = ingest_files(
        store, "links", [CAVIAR], source="caviar", rejects_path=tmp_path / "rejects.jsonl"
    )
    assert (summary.read, summary.rejected) == (205, 0)


def stored_results(store: GraphStore) -> dict[str, dict[str, object]]:
    return {
        str(node.ref): {name: node.props.get(name) for name in MEASURES}
        for node in store.iter_nodes()
    }


def top5(results: dict[str, dict[str, object]], measure: str) -> list[tuple[str, object]]:
    ranked = sorted(results.items(), key=lambda item: (-item[1][measure], item[0]))
    return [(NodeRef.parse(node).key, values[measure]) for node, values in ranked[:5]]


# --- CAVIAR through ingest, analysis and the store ----------------------------------------------
def test_caviar_degree_and_betweenness_match_the_reference(
    store: GraphStore, tmp_path: Path
) -> None:
    load_caviar(store, tmp_path)
    run = run_analysis(store, weighted=False)
    assert (run.nodes, run.edges, run.written) == (110, 205, 110)
    results = stored_results(store)
    assert top5(results, "degree") == REFERENCE_DEGREE
    betweenness = [(key, round(value, 3)) for key, value in top5(results, "betweenness")]
    assert betweenness == REFERENCE_BETWEENNESS
    one = store.get_node(person("1"))
    assert one is not None
    assert one.props["degree"] == 60
    assert one.props["degree_norm"] == pytest.approx(60 / 109)
    assert one.props["articulation"] is True
    assert set(MEASURES) <= set(one.props)


def test_caviar_analysis_equals_networkx_on_the_csv(store: GraphStore, tmp_path: Path) -> None:
    load_caviar(store, tmp_path)
    run_analysis(store, weighted=False)
    graph = caviar_graph()
    betweenness, core = nx.betweenness_centrality(graph), nx.core_number(graph)
    for node, values in stored_results(store).items():
        assert values["degree"] == graph.degree(node)
        assert values["betweenness"] == pytest.approx(betweenness[node], abs=1e-11)
        assert values["core"] == core[node]


def test_rerun_stores_identical_values(store: GraphStore, tmp_path: Path) -> None:
    load_caviar(store, tmp_path)
    run_analysis(store)
    first = stored_results(store)
    run_analysis(store)
    assert stored_results(store) == first


def test_run_is_recorded_in_meta(store: GraphStore, tmp_path: Path) -> None:
    load_caviar(store, tmp_path)
    run = run_analysis(store, seed=7, weighted=False, backend="networkx")
    meta = store.get_meta("analysis")
    assert meta is not None
    assert meta == run.as_meta()
    assert meta["ran_at"]
    assert meta["parameters"]["seed"] == 7
    assert meta["parameters"]["weighted"] is False
    assert (meta["nodes"], meta["edges"]) == (110, 205)
    assert meta["backend"] == "built-in"
    assert set(meta["backends"].values()) <= analysis.BUILT_IN
    assert meta["backends"]["louvain"] == meta["backends"]["betweenness"] == "igraph"
    expected_steps = {"project", "degree", "betweenness", "pagerank", "eigenvector", "louvain"}
    assert expected_steps | {"core", "bridges", "write"} <= set(meta["seconds"])
    assert sum(meta["seconds"].values()) <= meta["total_seconds"] + 0.01
    assert meta["notes"]["betweenness"] == "exact"


def test_shortest_paths_on_the_store_have_networkx_length(
    store: GraphStore, tmp_path: Path
) -> None:
    load_caviar(store, tmp_path)
    graph = caviar_graph()
    distances = nx.shortest_path_length(graph, "Person:36")
    farthest = max(distances.values())
    target = min(node for node, hops in distances.items() if hops == farthest)
    paths = shortest_paths(store, person("36"), NodeRef.parse(target), max_depth=6, limit=5)
    assert paths
    assert len(paths) <= 5
    assert len({tuple(path) for path in paths}) == len(paths)
    for path in paths:
        assert (path[0], path[-1]) == (person("36"), NodeRef.parse(target))
        assert len(path) - 1 == farthest == nx.shortest_path_length(graph, "Person:36", target)
        assert all(graph.has_edge(str(a), str(b)) for a, b in pairwise(path))


def test_shortest_paths_respect_max_depth(store: GraphStore, tmp_path: Path) -> None:
    load_caviar(store, tmp_path)
    graph = caviar_graph()
    distances = nx.shortest_path_length(graph, "Person:36")
    far = NodeRef.parse(min(node for node, hops in distances.items() if hops == 5))
    assert shortest_paths(store, person("36"), far, max_depth=4) == []
    assert shortest_paths(store, person("36"), person("36")) == [[person("36")]]
    assert shortest_paths(store, person("36"), person("no such person")) == []


# --- the projection ------------------------------------------------------------------------------
def _prov() -> Provenance:
    return Provenance("test", "r1", "2020-01-01", "2020-01-01")


def test_projection_merges_parallel_edges_and_drops_self_loops(store: GraphStore) -> None:
    a, b = (make_node(Label.PERSON, {"name": n, "normalised": n}, _prov()) for n in "ab")
    post = make_node(Label.POSTING, {"id": "P1", "title": "t"}, _prov())
    phone = make_node(Label.IDENTIFIER, {"kind": "phone", "value": "+100"}, _prov())
    store.upsert(
        [a, b, post, phone],
        [
            make_edge(RelType.LINKED_TO, a.ref, b.ref, _prov(), {"weight": 2.5}),
            make_edge(RelType.LINKED_TO, b.ref, a.ref, _prov(), {"weight": 4}),
            make_edge(RelType.LINKED_TO, a.ref, a.ref, _prov(), {"weight": 9}),
            make_edge(RelType.HAS_IDENTIFIER, post.ref, phone.ref, _prov()),
            make_edge(RelType.LINKED_TO, post.ref, phone.ref, _prov()),
        ],
    )
    graph = project(store)
    assert sorted(graph.edges(data="weight")) == [
        ("Identifier:phone:+100", "Posting:P1", 2.0),
        ("Person:a", "Person:b", 6.5),
    ]
    assert graph.nodes["Identifier:phone:+100"]["label"] == "Identifier"
    assert list(graph) == sorted(graph)
    unweighted = project(store, weighted=False)
    assert all(not data for _, _, data in unweighted.edges(data=True))
    assert sorted(project(store, labels=[Label.PERSON])) == ["Person:a", "Person:b"]
    only = project(store, rel_types=[RelType.HAS_IDENTIFIER])
    assert sorted(only.edges(data="weight")) == [("Identifier:phone:+100", "Posting:P1", 1.0)]


def test_projection_is_the_same_whatever_order_edges_come_in() -> None:
    edges = caviar_edges()
    shuffled = edges[::-1]
    random.Random(3).shuffle(shuffled)
    one, other = canonical_graph(edges), canonical_graph(shuffled)
    assert list(one.nodes(data=True)) == list(other.nodes(data=True))
    assert list(one.edges(data=True)) == list(other.edges(data=True))
    assert all(list(one.adj[node]) == sorted(one.adj[node]) for node in one)


# --- the measures --------------------------------------------------------------------------------
def two_triangles() -> nx.Graph:
    graph = nx.Graph()
    graph.add_edges_from([("a", "b"), ("b", "c"), ("a", "c"), ("c", "d")])
    graph.add_edges_from([("d", "e"), ("e", "f"), ("d", "f")])
    return graph


def test_brokers_find_the_bridge_between_two_triangles() -> None:
    found = brokers(two_triangles())
    assert found.articulation_points == {"c", "d"}
    assert found.bridges == [("c", "d")]


def test_brokers_are_written_to_the_store(store: GraphStore) -> None:
    people = {n: make_node(Label.PERSON, {"name": n, "normalised": n}, _prov()) for n in "abcdef"}
    store.upsert(
        list(people.values()),
        [
            make_edge(RelType.LINKED_TO, people[u].ref, people[v].ref, _prov())
            for u, v in two_triangles().edges()
        ],
    )
    run_analysis(store)
    flags = {node.key: node.props["articulation"] for node in store.iter_nodes(Label.PERSON)}
    assert flags == {"a": False, "b": False, "c": True, "d": True, "e": False, "f": False}
    assert store.get_meta("analysis")["bridges"] == 1


def test_louvain_is_deterministic_for_a_seed() -> None:
    graph = canonical_graph(caviar_edges())
    first = communities(graph, seed=5)
    assert communities(graph, seed=5) == first
    reordered = canonical_graph(list(reversed(caviar_edges())))
    assert communities(reordered, seed=5) == first
    ids = list(first["community"].values())
    sizes = [ids.count(number) for number in range(max(ids) + 1)]
    assert sizes == sorted(sizes, reverse=True) and min(sizes) > 0
    assert first["component"] == dict.fromkeys(graph, 0)


def test_sampled_betweenness_above_the_limit_is_stable_with_the_seed() -> None:
    graph = canonical_graph(caviar_edges(), weighted=False)
    log = analysis.StepLog()
    sampled = centrality(graph, exact_betweenness_limit=50, sample_k=20, seed=1, log=log)
    assert log.notes["betweenness"].startswith("sampled: 20 sources, seed 1")
    again = centrality(graph, exact_betweenness_limit=50, sample_k=20, seed=1)
    assert again["betweenness"] == sampled["betweenness"]
    expected = nx.betweenness_centrality(graph, k=20, seed=1)
    assert sampled["betweenness"] == pytest.approx(expected, abs=1e-12)
    assert sampled["betweenness"] != centrality(graph)["betweenness"]


def test_sampled_betweenness_through_run_analysis(store: GraphStore, tmp_path: Path) -> None:
    """A small limit forces sampling; the work budget cuts k to 3150 / (110 + 205) = 10."""
    load_caviar(store, tmp_path)
    run = run_analysis(store, exact_betweenness_limit=50, betweenness_work=315 * 10)
    assert run.notes["betweenness"].startswith("sampled: 10 sources, seed 42")
    first = stored_results(store)
    run_analysis(store, exact_betweenness_limit=50, betweenness_work=315 * 10)
    assert stored_results(store) == first


def test_core_numbers_equal_networkx() -> None:
    for seed in range(20):
        graph = nx.gnm_random_graph(80, 40 + 15 * seed, seed=seed)
        assert core_numbers(graph) == nx.core_number(graph)


def random_graphs() -> list[nx.Graph]:
    """Sparse random graphs with trees hanging off them and small separate pieces (like the
    contact network), weighted 1-5, nodes named like projections."""
    graphs = []
    for seed in range(6):
        rng = random.Random(seed)
        raw = nx.gnm_random_graph(120, 150 + 40 * seed, seed=seed)
        raw.add_edges_from((rng.randrange(120), 120 + i) for i in range(60))
        raw.add_edges_from([(300, 301), (301, 302), (400, 401)])
        graph = nx.Graph(weighted=True)
        graph.add_nodes_from(f"Person:{node:03d}" for node in sorted(raw))
        graph.add_weighted_edges_from(
            (f"Person:{u:03d}", f"Person:{v:03d}", rng.randint(1, 5)) for u, v in raw.edges()
        )
        graphs.append(graph)
    return graphs


def test_betweenness_equals_networkx_exact_and_sampled() -> None:
    for graph in random_graphs():
        exact = nx.betweenness_centrality(graph)
        assert centrality(graph)["betweenness"] == pytest.approx(exact, abs=1e-12)
        for k in (2, 17, 90):
            log = analysis.StepLog()
            got = centrality(graph, exact_betweenness_limit=10, sample_k=k, seed=k, log=log)
            assert log.notes["betweenness"].startswith(f"sampled: {k} sources, seed {k}")
            expected = nx.betweenness_centrality(graph, k=k, seed=k)
            assert got["betweenness"] == pytest.approx(expected, abs=1e-12)


def test_pagerank_eigenvector_and_degree_equal_networkx() -> None:
    for graph in random_graphs():
        got = centrality(graph)
        assert got["pagerank"] == pytest.approx(nx.pagerank(graph, weight="weight"), abs=1e-13)
        assert got["degree"] == dict(graph.degree())
        assert got["degree_norm"] == pytest.approx(nx.degree_centrality(graph), abs=1e-15)
        largest = graph.subgraph(max(nx.connected_components(graph), key=len))
        eigen = nx.eigenvector_centrality_numpy(largest, weight="weight")
        for node, value in got["eigenvector"].items():
            assert value == pytest.approx(eigen.get(node, 0.0), abs=1e-9)


def test_components_cores_and_brokers_equal_networkx() -> None:
    for graph in random_graphs():
        measures = communities(graph)
        expected = analysis.numbered(nx.connected_components(graph))
        assert measures["component"] == expected
        assert measures["core"] == nx.core_number(graph)
        found = brokers(graph)
        assert found.articulation_points == set(nx.articulation_points(graph))
        assert found.bridges == sorted((min(u, v), max(u, v)) for u, v in nx.bridges(graph))


def test_louvain_is_as_good_as_networkx() -> None:
    """igraph's multilevel Louvain, not NetworkX's: other communities, the same quality."""
    graph = canonical_graph(caviar_edges())
    found = communities(graph, seed=3)["community"]
    groups: dict[int, set[str]] = {}
    for node, number in found.items():
        groups.setdefault(number, set()).add(node)
    ours = nx.community.modularity(graph, groups.values(), weight="weight")
    theirs = nx.community.modularity(
        graph, nx.community.louvain_communities(graph, weight="weight", seed=3), weight="weight"
    )
    assert ours > theirs - 0.02


def test_fast_projection_equals_the_generic_one(store: GraphStore, tmp_path: Path) -> None:
    """SQLite's id rows and every store's edge_list give one projection."""
    load_caviar(store, tmp_path)
    post = make_node(Label.POSTING, {"id": "P1", "title": "t"}, _prov())
    phone = make_node(Label.IDENTIFIER, {"kind": "phone", "value": "+100"}, _prov())
    store.upsert(
        [post, phone],
        [
            make_edge(RelType.HAS_IDENTIFIER, post.ref, phone.ref, _prov()),
            make_edge(RelType.LINKED_TO, phone.ref, person("1"), _prov(), {"weight": 3}),
        ],
    )
    for labels in (None, [Label.PERSON]):
        fast = project(store, labels=labels)
        generic = canonical_graph(
            (s, t, w)
            for s, t, _, w in store.edge_list()
            if labels is None or {s.label, t.label} <= set(labels)
        )
        assert list(fast.nodes(data=True)) == list(generic.nodes(data=True))
        assert list(fast.edges(data=True)) == list(generic.edges(data=True))
    assert project(store).edges["Identifier:phone:+100", "Person:1"]["weight"] == 3.0


def test_bulk_write_by_id_stores_what_set_properties_would(tmp_path: Path) -> None:
    from graph.sqlite_store import SQLiteStore

    stores = [SQLiteStore(tmp_path / f"{name}.db") for name in ("by_id", "by_key")]
    try:
        for store in stores:
            load_caviar(store, tmp_path)
        p = analysis.project_arrays(stores[0])
        assert p.row_ids is not None
        columns = {
            "betweenness": analysis.sampled_betweenness(p, None, 0),
            "core": analysis.np.asarray(p.igraph.coreness()),
            "articulation": p.degree > 10,
            "eigenvector": None,
        }
        assert analysis.write_results(stores[0], p, columns) == 110
        p.row_ids = None  # the generic path: set_properties per label
        assert analysis.write_results(stores[1], p, columns) == 110

        def derived(store: SQLiteStore) -> list[tuple[str, str]]:
            query = "SELECT key, derived FROM nodes ORDER BY key"
            return store._db.execute(query).fetchall()

        assert derived(stores[0]) == derived(stores[1])
        assert '"articulation":true' in derived(stores[0])[0][1]
    finally:
        for store in stores:
            store.close()


def test_stored_floats_have_twelve_significant_digits() -> None:
    rng = random.Random(5)
    values = [rng.random() * 10.0 ** rng.randint(-30, 15) for _ in range(20_000)]
    values += [0.0, -0.0, 1.0, 0.5, 1e-300, 123456789012.5, 0.1 + 0.2, -2 / 3, float("nan")]
    values += [float(f"{rng.random():.12f}") + 5e-13 for _ in range(1000)]  # near ties
    rounded = analysis.round_significant(analysis.np.array(values))
    for value, got in zip(values, rounded, strict=True):
        expected = float(f"{value:.12g}")
        assert got == expected or (got != got and expected != expected), value


def test_eigenvector_survives_a_disconnected_graph() -> None:
    graph = two_triangles()
    graph.add_edge("x", "y")
    values = centrality(graph)["eigenvector"]
    assert values["x"] == values["y"] == 0.0
    assert values["c"] > values["a"] > 0


def test_an_empty_store_analyses_to_nothing(store: GraphStore) -> None:
    run = run_analysis(store)
    assert (run.nodes, run.edges, run.written) == (0, 0, 0)
    assert store.get_meta("analysis")["nodes"] == 0


# --- NetworkX dispatch backends ------------------------------------------------------------------
def test_a_backend_gives_the_same_results(store: GraphStore, tmp_path: Path) -> None:
    backends = installed_backends()
    if not backends:
        pytest.skip(
            "no NetworkX dispatch backend installed (entry point group networkx.backends: "
            "neither nx-parallel nor nx-cugraph)"
        )
    load_caviar(store, tmp_path)
    run_analysis(store, backend="networkx")
    plain = stored_results(store)
    run = run_analysis(store, backend="auto")
    assert store.get_meta("analysis")["parameters"]["backend"] == "auto"
    with_backend = stored_results(store)
    assert with_backend.keys() == plain.keys()
    for node, values in plain.items():
        for measure, value in values.items():
            # PageRank and eigenvector iterate to a tolerance, so implementations differ there
            rel = 1e-4 if measure in {"pagerank", "eigenvector"} else 1e-9
            got = with_backend[node][measure]
            assert got == pytest.approx(value, rel=rel, abs=1e-12), (node, measure, run.notes)


def test_analyze_store_runs_every_step_and_leaves_the_collector_as_it_was(
    store: GraphStore, tmp_path: Path
) -> None:
    """`prexus analyze` in one call: clusters, checks and measures are stored, and the
    collector's thresholds and frozen objects are what they were before."""
    import gc

    from graph.pipeline import analyze_store

    load_caviar(store, tmp_path)
    thresholds = gc.get_threshold()
    report = analyze_store(store, rel_types=None)
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0
    assert set(report.seconds) == {"link", "checks", "analysis"}
    assert report.run is not None and report.run.nodes == caviar_graph().number_of_nodes()
    assert store.get_meta("analysis") is not None and store.get_meta("alerts") is not None
    assert top5(stored_results(store), "degree") == REFERENCE_DEGREE
