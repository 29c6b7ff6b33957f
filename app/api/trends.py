"""Postings and seizures per substance over time, and the substitution signal."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.auth import CanRead
from app.deps import Cache, Limit, Offset, Store
from app.models import SubstitutionSignals, TrendsPage
from app.queries import substitution_page, trend_page

router = APIRouter(tags=["trends"])

Period = Literal["month", "quarter", "year"]


@router.get("/trends")
def trends(
    _: CanRead,
    store: Store,
    cache: Cache,
    period: Period = "year",
    substance: Annotated[
        list[str] | None,
        Query(
            max_length=50,
            description="Substance keys (CAS when known); all when none.",
            examples=[["13605-48-6", "28578-16-7"]],
        ),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> TrendsPage:
    """Offers, requests, seizures and seized quantity per substance and period, with each
    substance's scheduling date (`in_force`); busiest substances first."""
    return trend_page(store, cache, period, substance, limit, offset)


@router.get("/trends/substitution")
def substitution(
    _: CanRead, store: Store, cache: Cache, limit: Limit = 50, offset: Offset = 0
) -> SubstitutionSignals:
    """Scheduled substances whose postings fell after scheduling while an analogue's rose."""
    return substitution_page(store, cache, limit, offset)
