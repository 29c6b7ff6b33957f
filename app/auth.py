"""Who is calling, and what they may do.

Routers declare the permission they need with one of the annotated dependencies below
(`CanRead`, `CanAnnotate`, `CanIngest`, `CanAdmin`, or `SignedIn` for any role); each
resolves to the calling `Principal` or answers 401/403. Who the caller is was settled
before, by the access middleware (app.access: keys, sessions, single-user mode); a test
enumerates the routes so that none goes without a guard unless it is in PUBLIC_PATHS.

Roles map to permissions here and nowhere else:
viewer reads; analyst reads, annotates and decides on clusters; ingester ingests;
admin does everything, including keys and the audit trail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi import routing as fastapi_routing
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from app.models import Problem


class Role(StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    INGESTER = "ingester"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    ANNOTATE = "annotate"
    INGEST = "ingest"
    ADMIN = "admin"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.ANALYST: frozenset({Permission.READ, Permission.ANNOTATE}),
    Role.INGESTER: frozenset({Permission.INGEST}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a key's name and role (or the local user in single-user mode)."""

    name: str
    role: Role

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


LOCAL_USER = Principal("local", Role.ADMIN)
"""Single-user mode: no keys configured and bound to loopback. Every request from a
loopback client is this user; the access middleware decides (app.access)."""


PUBLIC_PATHS = frozenset({"/login", "/logout", "/api/health"})
"""Answer without a key: signing in and out, and the liveness probe (which tells nothing
but the backend's name). Static assets under PUBLIC_PREFIXES are public too."""
PUBLIC_PREFIXES = ("/static/",)
SIGNED_IN_PATHS = frozenset({"/openapi.json"})
"""Any signed-in caller, whatever the role: FastAPI's own schema route, which takes no
dependencies (the access middleware turns away callers without a key)."""

ACCESS_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid API key (none, unknown or revoked)"},
    403: {"model": Problem, "description": "The key's role lacks the permission"},
    429: {"model": Problem, "description": "Over the key's rate limit: see Retry-After"},
}
"""Documented on every API route (app.api's router)."""

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer KEY`")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def current_principal(request: Request) -> Principal | None:
    """The caller the access middleware resolved (None: no valid credentials)."""
    return request.scope.get("state", {}).get("principal")


def _refuse(principal: Principal | None, needed: Permission | None) -> HTTPException | None:
    if principal is None:
        return HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "sign in: send an API key (Authorization: Bearer KEY, or X-API-Key: KEY)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if needed is not None and not principal.can(needed):
        held = ", ".join(sorted(ROLE_PERMISSIONS[principal.role])) or "nothing"
        return HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{FORBIDDEN_PREFIX} the {needed.value!r} permission; "
            f"key {principal.name!r} has role {principal.role.value!r} ({held})",
        )
    return None


FORBIDDEN_PREFIX = "this needs"
"""How every role refusal starts, so tests and clients can tell it from other 403s."""


def require(permission: Permission | None) -> Callable[..., Awaitable[Principal]]:
    """A dependency that answers the caller, or refuses one without `permission` (401 with
    no valid credentials, 403 with a role that lacks it); `None`: any signed-in caller.

    The bearer and API-key parameters only document the schemes in OpenAPI (Swagger UI's
    Authorize button); the access middleware has already read the credentials. The
    function carries `permission`, so `route_permissions` can list what a route needs."""

    async def dependency(
        request: Request,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
        _api_key: Annotated[str | None, Security(api_key_scheme)],
    ) -> Principal:
        principal = current_principal(request)
        refusal = _refuse(principal, permission)
        if refusal is not None:
            raise refusal
        assert principal is not None
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{permission.value if permission else 'signed_in'}"
    return dependency


def iter_routes(app: Starlette) -> Iterator[tuple[str, str, Any]]:
    """(method, path template, route) for every endpoint, included routers flattened, each
    route with the dependencies its routers add (FastAPI >= 0.16x includes routers lazily;
    older versions flatten them into `app.routes`). Mounts (static files) are left out."""
    contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    found = contexts(app.routes) if contexts else app.routes
    for route in found:
        for method in sorted((getattr(route, "methods", None) or set()) - {"HEAD"}):
            yield method, route.path, route


def route_permissions(route: BaseRoute) -> list[Permission | None] | None:
    """What a route's guards demand (None in the list: signed in, any role), or None when
    it has no guard at all. Walks the route's whole dependency tree."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    found: list[Permission | None] = []
    stack = list(dependant.dependencies)
    while stack:
        dep = stack.pop()
        if hasattr(dep.call, "permission"):
            found.append(dep.call.permission)
        stack.extend(dep.dependencies)
    return found or None


CanRead = Annotated[Principal, Depends(require(Permission.READ))]
CanAnnotate = Annotated[Principal, Depends(require(Permission.ANNOTATE))]
CanIngest = Annotated[Principal, Depends(require(Permission.INGEST))]
CanAdmin = Annotated[Principal, Depends(require(Permission.ADMIN))]
SignedIn = Annotated[Principal, Depends(require(None))]
