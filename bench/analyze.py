"""Time and peak memory of `prexus analyze` on demo worlds, against plain NetworkX in the same run.

    python bench/analyze.py [--postings 10000 100000] [--from-db PATH] [--keep DIR]
    python bench/analyze.py --postings 1000000 --keep DIR  # ingest alone takes ~12 min

For each size the demo world (ingest.demo, seed 7) is ingested into a fresh SQLite store,
kind by kind in DEMO_ORDER; --from-db analyses an existing store instead (and overwrites the
clusters, alerts and analysis values stored in it); with --keep, a store already in DIR is
reused. Then, each in a fresh process so peak RSS is its own:

- prexus: what `prexus analyze` runs (graph.pipeline.analyze_store): linking
  (graph.linking.link_actors), the checks (graph.checks.run_checks), then
  graph.analysis.run_analysis on the contact network
  (projection, every measure, write-back, metadata);
- plain: nx.Graph built with add_edge straight from the same store.edge_list, then degree,
  PageRank, eigenvector, components, Louvain, articulation points, bridges and betweenness
  with the same k and seed, as bare NetworkX calls. Betweenness runs at most
  --baseline-sources sources and its time is scaled up to k (it is one search per source,
  so linear in k; the output says when it did).

Ratios are prexus / plain for the steps both do, and for run_analysis as a whole. nx.core_number
is left out of the baseline: it is quadratic in a hub's degree (minutes at 100k). Target
(issue 4): the whole analysis of 1M postings within 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import peak_rss_mb, row, timed

BASELINE_SOURCES = 32
"""Sources the NetworkX betweenness baseline runs at most (about 15 s each at 1M)."""


def build_store(db: Path, postings: int, folder: Path) -> None:
    from app.cli import DEMO_ORDER
    from graph.sqlite_store import SQLiteStore
    from ingest.demo import write_demo_world
    from ingest.loader import ingest_files

    world = write_demo_world(folder, postings=postings, seed=7)
    with SQLiteStore(db) as store:
        for kind in DEMO_ORDER:
            ingest_files(
                store, kind, [world.files[kind]], rejects_path=folder / f"{kind}-rejects.jsonl"
            )


def relationships(all_relationships: bool) -> Any:
    """What `prexus analyze` projects: the contact network, unless told otherwise."""
    from graph.analysis import CONTACT_NETWORK

    return None if all_relationships else sorted(CONTACT_NETWORK)


def prexus_run(db: str, backend: str, all_relationships: bool) -> dict[str, Any]:
    """What app.cli's `analyze` runs (graph.pipeline.analyze_store), step by step."""
    from graph.pipeline import analyze_store
    from graph.sqlite_store import SQLiteStore

    with SQLiteStore(db) as store:
        start = time.perf_counter()
        report = analyze_store(store, backend=backend, rel_types=relationships(all_relationships))
        done = time.perf_counter()
    run = report.run
    assert run is not None
    return {
        "seconds": run.seconds,
        "total": run.total_seconds,
        "link": report.seconds["link"],
        "checks": report.seconds["checks"],
        "command": done - start,
        "peak_mb": peak_rss_mb(),
        "nodes": run.nodes,
        "edges": run.edges,
        "notes": run.notes,
        "backend": run.backend,
    }


def plain_run(db: str, all_relationships: bool, baseline_sources: int) -> dict[str, Any]:
    """The same work as bare NetworkX calls: no canonical order, no store round-trip."""
    import networkx as nx

    from graph import analysis
    from graph.sqlite_store import SQLiteStore

    seconds: dict[str, float] = {}
    notes: dict[str, str] = {}
    with timed() as clock, SQLiteStore(db) as store:
        graph = nx.Graph()
        for source, target, _rel, _weight in store.edge_list(relationships(all_relationships)):
            if source != target:
                graph.add_edge(str(source), str(target))
    seconds["project"] = clock.seconds
    k = analysis.betweenness_samples(
        graph,
        analysis.EXACT_BETWEENNESS_LIMIT,
        analysis.BETWEENNESS_SAMPLES,
        analysis.BETWEENNESS_WORK,
    )
    runs = k if k is None else min(k, baseline_sources)
    largest = graph.subgraph(max(nx.connected_components(graph), key=len))
    steps = {
        "degree": lambda: (dict(graph.degree()), nx.degree_centrality(graph)),
        "pagerank": lambda: nx.pagerank(graph),
        "eigenvector": lambda: nx.eigenvector_centrality_numpy(largest),
        "components": lambda: list(nx.connected_components(graph)),
        "louvain": lambda: nx.community.louvain_communities(graph, seed=analysis.DEFAULT_SEED),
        "articulation": lambda: list(nx.articulation_points(graph)),
        "bridges": lambda: list(nx.bridges(graph)),
        "betweenness": lambda: nx.betweenness_centrality(graph, k=runs, seed=analysis.DEFAULT_SEED),
    }
    for name, step in steps.items():
        with timed() as clock:
            step()
        seconds[name] = clock.seconds
    if k is not None and runs is not None and runs < k:
        seconds["betweenness"] *= k / runs
        notes["betweenness"] = f"ran {runs} of {k} sources, time scaled by {k / runs:.1f}"
    return {
        "seconds": seconds,
        "total": sum(seconds.values()),
        "peak_mb": peak_rss_mb(),
        "notes": notes,
    }


def in_fresh_process(function: Any, *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def report(
    label: str, db: Path, backend: str, all_relationships: bool, baseline_sources: int
) -> None:
    prexus = in_fresh_process(prexus_run, str(db), backend, all_relationships)
    plain = in_fresh_process(plain_run, str(db), all_relationships, baseline_sources)
    print(
        f"\n## {label}: {prexus['nodes']:,} nodes, {prexus['edges']:,} edges "
        f"(backend {prexus['backend']})"
    )
    print(row("step", "prexus s", "plain nx s", "ratio"))
    for step, seconds in prexus["seconds"].items():
        base = plain["seconds"].get(step)
        ratio = f"{seconds / base:.2f}" if base else "-"
        print(row(step, f"{seconds:.2f}", "-" if base is None else f"{base:.2f}", ratio))
    shared = sum(prexus["seconds"].get(step, 0.0) for step in plain["seconds"])
    for name, mine, theirs in (
        ("shared steps", shared, plain["total"]),
        ("run_analysis", prexus["total"], plain["total"]),
    ):
        print(row(name, f"{mine:.2f}", f"{theirs:.2f}", f"{mine / theirs:.2f}"))
    print(row("linking", f"{prexus['link']:.2f}", "-", "-"))
    print(row("checks", f"{prexus['checks']:.2f}", "-", "-"))
    print(row("prexus analyze", f"{prexus['command']:.2f}", "-", "-"))
    print(
        row(
            "peak RSS MB",
            f"{prexus['peak_mb']:.0f}",
            f"{plain['peak_mb']:.0f}",
            f"{prexus['peak_mb'] / plain['peak_mb']:.2f}",
        )
    )
    for step, note in prexus["notes"].items():
        print(f"- {step}: {note}")
    for step, note in plain["notes"].items():
        print(f"- plain {step}: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postings", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--from-db", type=Path, help="analyse this SQLite store instead")
    parser.add_argument("--keep", type=Path, help="write worlds and stores here, and keep them")
    parser.add_argument("--backend", default="auto", help="auto, networkx or a backend name")
    parser.add_argument(
        "--baseline-sources",
        type=int,
        default=BASELINE_SOURCES,
        help="most betweenness sources the NetworkX baseline runs (time scaled up to k)",
    )
    parser.add_argument(
        "--all-relationships",
        action="store_true",
        help="project every relationship, not just the contact network",
    )
    args = parser.parse_args()
    options = (args.backend, args.all_relationships, args.baseline_sources)
    if args.from_db:
        report(str(args.from_db), args.from_db, *options)
        return
    for postings in args.postings:
        with tempfile.TemporaryDirectory(prefix="prexus-bench-analyze-") as scratch:
            folder = (args.keep or Path(scratch)) / f"demo-{postings}"
            db = folder / "prexus.db"
            if not db.exists():
                with timed() as clock:
                    build_store(db, postings, folder)
                print(f"\ningested {postings:,} postings in {clock.seconds:.0f} s")
            report(f"{postings:,} postings", db, *options)


if __name__ == "__main__":
    main()
