"""Exception handlers that give every FastAPI error the contract's shape.

{"error": code, "message": text}, with the status the contract prescribes.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from apps.common import errors
from apps.common.upstream import UpstreamError


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A response in the error shape, its code derived from the status."""
    code = errors.CODE_FOR_STATUS.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}"


def _allowed_methods(request: Request) -> str:
    # Starlette answers 405 from the first route whose path matches, so its Allow header
    # names only that route's methods (GET /items and POST /items are two routes).
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] == Match.PARTIAL:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    headers = exc.headers
    allowed = _allowed_methods(request) if exc.status_code == 405 else ""
    if allowed:
        headers = {**(headers or {}), "Allow": allowed}
    return error_response(exc.status_code, str(exc.detail), headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = list(exc.errors())
    # FastAPI reports undecodable JSON as a validation error; the contract says 400.
    invalid_json = [problem for problem in problems if problem["type"] == "json_invalid"]
    if invalid_json:
        detail = invalid_json[0].get("ctx", {}).get("error", invalid_json[0]["msg"])
        return error_response(400, f"malformed JSON: {detail}")
    return error_response(422, "; ".join(_describe(problem) for problem in problems))


async def _upstream_error(request: Request, exc: UpstreamError) -> JSONResponse:
    return error_response(502, str(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that map FastAPI/Starlette errors to the contract shape."""
    # Starlette's HTTPException also covers FastAPI's subclass and the router's own 404
    # (unknown route) and 405 (with its Allow header).
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(RequestValidationError)(_validation_error)
    app.exception_handler(UpstreamError)(_upstream_error)
