"""What `prexus analyze` runs, in one call the CLI and `bench/analyze.py` share.

The order matters: linking flags hub identifiers that the takedown check skips, and the
checks write the REAPPEARS_AS edges the network analysis projects. The three steps run
with the collector's thresholds raised, and what each step leaves alive is frozen before
the next (`gc.freeze`), so the next one's collections do not walk it again.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from graph.analysis import CONTACT_NETWORK, DEFAULT_SEED, AnalysisRun, run_analysis
from graph.checks import run_checks
from graph.collector import fewer_collections
from graph.linking import link_actors
from graph.schema import RelType
from graph.store import GraphStore

Announce = Callable[[str], AbstractContextManager[Any]]
"""Shows which step is running (the CLI passes a spinner)."""


@dataclass(slots=True)
class AnalyzeReport:
    """What `analyze_store` found, and the wall-clock seconds of each step."""

    clusters: int = 0
    hubs: int = 0
    weak_links: int = 0
    checks: dict[str, int] = field(default_factory=dict)
    run: AnalysisRun | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def analyze_store(
    store: GraphStore,
    *,
    seed: int = DEFAULT_SEED,
    rel_types: Iterable[RelType] | None = CONTACT_NETWORK,
    backend: str = "auto",
    announce: Announce | None = None,
) -> AnalyzeReport:
    """Cluster records into actors, run the registry, takedown and substitution checks,
    then centrality and communities over `rel_types` (None: every relationship). Each
    step writes its results to the store; re-running on the same data stores the same."""
    report = AnalyzeReport()
    step = announce or (lambda _: nullcontext())
    with fewer_collections(), _frozen_between_steps():
        with step("linking records into actor clusters"), _timed(report, "link"):
            clustering = link_actors(store)
            report.clusters = len(clustering.members)
            report.hubs = len(clustering.hubs)
            report.weak_links = len(clustering.weak_links)
            del clustering
        _freeze()
        with step("registry, takedown and substitution checks"), _timed(report, "checks"):
            report.checks = run_checks(store)
        _freeze()
        with step("centrality and communities"), _timed(report, "analysis"):
            report.run = run_analysis(store, seed=seed, rel_types=rel_types, backend=backend)
    return report


@contextmanager
def _timed(report: AnalyzeReport, name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        report.seconds[name] = round(time.perf_counter() - started, 3)


def _freeze() -> None:
    """Collect what the step left behind, then move the survivors out of the collector's
    sight until the run ends."""
    gc.collect()
    gc.freeze()


@contextmanager
def _frozen_between_steps() -> Iterator[None]:
    try:
        yield
    finally:
        gc.unfreeze()
