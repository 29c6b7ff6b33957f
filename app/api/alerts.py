"""Leads from the last checks: unlicensed offers, reappearing postings, substitution."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth import CanRead
from app.deps import Limit, Offset, Store
from app.models import Alerts, Reappearances, RegistryAlerts, SubstitutionSignals
from app.queries import AlertKind, alert_list, alerts

router = APIRouter(tags=["alerts"])


@router.get("/alerts")
def alert_record(
    _: CanRead, store: Store, kind: AlertKind | None = None, limit: Limit = 50, offset: Offset = 0
) -> Alerts | RegistryAlerts | Reappearances | SubstitutionSignals:
    """What `prexus analyze` last flagged: offers of controlled substances no licence
    covers (`registry`), removed postings back on another platform (`reappearances`) and
    substitution signals. Without `kind`, all three lists, each paged alike; with `kind`,
    that list alone."""
    if kind is None:
        return alerts(store, limit, offset)
    return alert_list(store, kind, limit, offset)
