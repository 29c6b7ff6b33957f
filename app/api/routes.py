"""Seizures and the country flows they trace."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth import CanRead
from app.deps import Cache, Limit, Offset, Store
from app.models import Flows, Page, SeizureOut
from app.queries import flows, paged, seizure_rows

router = APIRouter(tags=["routes"])


@router.get("/seizures")
def seizures(
    _: CanRead, store: Store, cache: Cache, limit: Limit = 50, offset: Offset = 0
) -> Page[SeizureOut]:
    """Seizures, newest first, with substance, quantity, countries and cluster."""
    return paged(Page[SeizureOut], seizure_rows(store, cache), limit, offset)


@router.get("/routes/flows")
def route_flows(
    _: CanRead, store: Store, cache: Cache, limit: Limit = 50, offset: Offset = 0
) -> Flows:
    """Seizures per route (origin, transit countries in order, destination), per
    origin-destination pair and per country by role, from the ORIGIN, TRANSIT and
    DESTINATION edges (a seizure without its own takes its route's)."""
    return flows(store, cache, limit, offset)
