"""Trends per substance and the substitution signal.

When a substance is scheduled, traffic moves to an unscheduled analogue: PMK methyl
glycidate (controlled November 2019) gave way to its ethyl ester. Counting postings and
seizures per substance per period, with the scheduling dates beside them, shows that
shift; the substitution signal names it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from itertools import chain
from typing import Any

from graph.alerts import PostingFacts, posting_rows
from graph.schema import Label, RelType
from graph.store import GraphStore

PERIODS = ("month", "quarter", "year")


def period_of(day: str, period: str) -> str:
    """'2019-11-04' -> '2019-11' (month), '2019-Q4' (quarter) or '2019' (year)."""
    if period == "month":
        return day[:7]
    if period == "quarter":
        return f"{day[:4]}-Q{(int(day[5:7]) - 1) // 3 + 1}"
    if period == "year":
        return day[:4]
    raise ValueError(f"unknown period {period!r} (valid: {', '.join(PERIODS)})")


@dataclass(slots=True)
class SubstanceSeries:
    """Counts per period for one substance, with the date it came under control."""

    key: str
    name: str
    in_force: str | None
    offers: dict[str, int]
    requests: dict[str, int]
    seizures: dict[str, int]
    seized_quantity: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def substance_trends(
    store: GraphStore,
    period: str = "year",
    substances: Iterable[str] | None = None,
    facts: PostingFacts | None = None,
) -> list[SubstanceSeries]:
    """Postings (offers, requests) and seizures (incidents, quantity) per substance and
    period, busiest substances first. `facts`: the postings as the checks read them once
    (only their date and kind are read here otherwise, not whole postings)."""
    period_of("2000-01-01", period)  # validate early
    wanted = set(substances) if substances is not None else None
    info = {n.key: n for n in store.iter_nodes(Label.SUBSTANCE)}
    rows = facts.postings if facts is not None else posting_rows(store)
    dated = {
        key: (posted_at or first_seen, kind)
        for key, (first_seen, posted_at, kind, *_) in rows.items()
    }
    seizures = {
        n.key: (n.props.get("date") or n.provenance.first_seen, n.props.get("quantity"))
        for n in store.iter_nodes(Label.SEIZURE)
    }
    edges: Iterable[tuple[str, str, RelType]]  # (source key, substance key, type)
    if facts is None:
        edges = (
            (source.key, target.key, rel)
            for source, target, rel, _ in store.edge_list([RelType.MENTIONS, RelType.OF_SUBSTANCE])
            if target.label is Label.SUBSTANCE
        )
    else:  # the checks' MENTIONS, read once; equally busy series may come in another order
        mentions = (
            (posting, substance, RelType.MENTIONS)
            for posting, label, substance, _ in facts.mentions
            if label == Label.SUBSTANCE
        )
        seized = (
            (source, target, RelType.OF_SUBSTANCE)
            for _, source, label, target in store.edge_values(RelType.OF_SUBSTANCE)
            if label == Label.SUBSTANCE
        )
        edges = chain(mentions, seized)
    series: dict[str, SubstanceSeries] = {}

    def entry(key: str) -> SubstanceSeries:
        if key not in series:
            node = info.get(key)
            props = node.props if node else {}
            series[key] = SubstanceSeries(
                key,
                str(props.get("name", key)),
                props.get("in_force"),
                defaultdict(int),
                defaultdict(int),
                defaultdict(int),
                defaultdict(float),
            )
        return series[key]

    for source, target, rel in edges:
        if wanted and target not in wanted:
            continue
        if rel is RelType.MENTIONS and source in dated:
            day, kind = dated[source]
            if day:
                counts = entry(target).requests if kind == "request" else entry(target).offers
                counts[period_of(str(day), period)] += 1
        elif rel is RelType.OF_SUBSTANCE and source in seizures:
            day, quantity = seizures[source]
            if day:
                slot = period_of(str(day), period)
                entry(target).seizures[slot] += 1
                if isinstance(quantity, (int, float)):
                    entry(target).seized_quantity[slot] += quantity
    for item in series.values():
        for name in ("offers", "requests", "seizures", "seized_quantity"):
            setattr(item, name, dict(sorted(getattr(item, name).items())))
    return sorted(
        series.values(), key=lambda s: -(sum(s.offers.values()) + sum(s.requests.values()))
    )


@dataclass(frozen=True, slots=True)
class SubstitutionSignal:
    """After `scheduled` came under control its postings fell while `substitute`'s rose."""

    scheduled: str
    scheduled_name: str
    substitute: str
    substitute_name: str
    in_force: str
    scheduled_before: int
    scheduled_after: int
    substitute_before: int
    substitute_after: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def substitution_signals(
    store: GraphStore,
    analogues: Iterable[tuple[str, str]] | None = None,
    window_years: int = 2,
    fall: float = 0.5,
    rise: float = 1.5,
    facts: PostingFacts | None = None,
) -> list[SubstitutionSignal]:
    """Pairs (scheduled, substitute) where, in the `window_years` after scheduling
    compared with the same span before, the scheduled substance's postings fell to at most
    `fall` times and the substitute's rose to at least `rise` times. Pairs come from the
    substance reference's `analogue_of`; a substance without a scheduling date has no
    signal. `facts`: as in substance_trends."""
    substances = {n.key: n for n in store.iter_nodes(Label.SUBSTANCE)}
    if analogues is None:
        analogues = [
            (str(n.props["analogue_of"]), key)
            for key, n in substances.items()
            if n.props.get("analogue_of")
        ]
    monthly = {s.key: s for s in substance_trends(store, "month", facts=facts)}
    signals = []
    for scheduled, substitute in analogues:
        node = substances.get(scheduled)
        in_force = node.props.get("in_force") if node else None
        if not in_force or scheduled not in monthly or substitute not in monthly:
            continue
        start = date.fromisoformat(str(in_force)[:10])
        before = (f"{start.year - window_years}-{start.month:02d}", start.isoformat()[:7])
        after = (start.isoformat()[:7], f"{start.year + window_years}-{start.month:02d}")
        counts = [
            _postings_between(monthly[key], *span)
            for key in (scheduled, substitute)
            for span in (before, after)
        ]
        s_before, s_after, t_before, t_after = counts
        if s_before and s_after <= fall * s_before and t_after >= rise * max(t_before, 1):
            signals.append(
                SubstitutionSignal(
                    scheduled,
                    monthly[scheduled].name,
                    substitute,
                    monthly[substitute].name,
                    str(in_force),
                    s_before,
                    s_after,
                    t_before,
                    t_after,
                )
            )
    return signals


def _postings_between(series: SubstanceSeries, start: str, end: str) -> int:
    """Postings in months [start, end)."""
    return sum(
        n for month, n in {**_merge(series.offers, series.requests)}.items() if start <= month < end
    )


def _merge(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    merged = dict(a)
    for key, n in b.items():
        merged[key] = merged.get(key, 0) + n
    return merged
