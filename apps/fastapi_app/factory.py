"""The FastAPI application object both variants start from."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse
from starlette.types import Lifespan

from apps.common import static
from apps.fastapi_app.errors import install_error_handlers
from apps.fastapi_app.params import JsonBodyRoute


def create_app(lifespan: Lifespan[FastAPI] | None = None) -> FastAPI:
    """A FastAPI app whose routes will be exactly the contract's.

    No docs/OpenAPI routes, no trailing-slash redirects, contract error handlers, and
    JsonBodyRoute for every route added afterwards.
    """
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    # FastAPI's documented way to give all of an app's routes a custom route class.
    app.router.route_class = JsonBodyRoute
    install_error_handlers(app)
    return app


def static_response(name: str) -> FileResponse:
    """/static/{name}: Starlette's FileResponse (sent in blocks from a worker thread), with
    the contract's Content-Type; 404 for a name that is not one of the files."""
    path = static.path_of(name)
    if path is None:
        raise HTTPException(status_code=404, detail=f"no static file {name!r}")
    return FileResponse(path, media_type=static.content_type(name))
