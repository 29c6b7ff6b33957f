"""Swagger UI served from this server: its assets come from the `swagger-ui-bundle-v2` wheel
and its start-up code from our static folder, so the docs work offline and under the CSP."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from app.auth import SignedIn


def swagger_ui_assets() -> Path | None:
    """The folder of swagger-ui-dist files shipped by the `swagger_ui_bundle` module."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    path = Path(str(swagger_ui_path))
    return path if (path / "swagger-ui-bundle.js").is_file() else None


router = APIRouter(include_in_schema=False)


@router.get("/docs")
def docs(_: SignedIn, request: Request) -> Response:
    """Any signed-in caller, whatever the role: the ingester needs the upload's description."""
    if not request.app.state.swagger_ui:
        return JSONResponse(
            {
                "detail": "Swagger UI assets are not installed (pip install swagger-ui-bundle-v2); "
                f"the schema is at {request.app.openapi_url}"
            },
            status_code=503,
        )
    from app.pages import templates

    context = {"openapi_url": request.app.openapi_url}
    return templates.TemplateResponse(request, "docs.html", context)


def mount_swagger_ui(app: FastAPI) -> None:
    assets = swagger_ui_assets()
    app.state.swagger_ui = assets is not None
    if assets is not None:
        app.mount("/static/swagger", StaticFiles(directory=assets), name="swagger")
