"""The checks `prexus analyze` runs after clustering, with their results written back."""

from __future__ import annotations

from graph.alerts import PostingFacts, reappearances, registry_alerts, write_reappearances
from graph.schema import Label, now_iso
from graph.store import GraphStore
from graph.trends import substitution_signals
from graph.watchlists import check_after_analysis

ALERTS_META = "alerts"


def run_checks(store: GraphStore) -> dict[str, int]:
    """Registry check, takedown reappearances and substitution signals: flagged postings
    get a `registry_alert` property, reappearances become REAPPEARS_AS edges, and all of it
    is kept in the `alerts` metadata for the dashboard and the API. Watched clusters on a
    new platform and reappearances that touch a watch become watch alerts. The postings
    and their identifiers are read once, as plain tuples, for all the checks."""
    facts = PostingFacts.read(store)
    registry = registry_alerts(store, facts)
    store.set_properties(Label.POSTING, {a.posting: {"registry_alert": a.reason} for a in registry})
    before = (store.get_meta(ALERTS_META) or {}).get("reappearances", [])
    reposts = reappearances(store, facts=facts)
    write_reappearances(store, reposts)
    signals = substitution_signals(store, facts=facts)
    known = [(r["removed"], r["reposted"]) for r in before]
    watch_alerts = check_after_analysis(store, reposts, known)
    store.put_meta(
        ALERTS_META,
        {
            "ran_at": now_iso(),
            "registry": [a.as_dict() for a in registry],
            "reappearances": [r.as_dict() for r in reposts],
            "substitution": [s.as_dict() for s in signals],
        },
    )
    return {
        "registry_alerts": len(registry),
        "reappearances": len(reposts),
        "substitution_signals": len(signals),
        "watch_alerts": watch_alerts,
    }
