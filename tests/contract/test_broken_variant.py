"""The checks can fail: deliberately broken variants (middleware around the raw apps)."""

from __future__ import annotations

import http
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from apps.contract.checks import Problem, check_by_name, errors, run_checks
from apps.contract.clients import asgi_client, import_app, load_variants, wsgi_client

Headers = list[tuple[str, str]]
# (method, path, status, headers, body) -> the same, altered.
Response = tuple[int, Headers, bytes]
Rewrite = Callable[[str, str, int, Headers, bytes], Response]


def rewrite_wsgi(app: Callable[..., Any], rewrite: Rewrite) -> Callable[..., Any]:
    """A WSGI middleware that lets rewrite alter every complete response."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen: dict[str, Any] = {}

        def capture(status: str, headers: Headers, exc_info: Any = None) -> Callable[..., Any]:
            seen["status"], seen["headers"] = status, headers
            return lambda data: None

        result = app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers, body = rewrite(
            environ["REQUEST_METHOD"],
            environ["PATH_INFO"],
            int(seen["status"].split()[0]),
            list(seen["headers"]),
            body,
        )
        start_response(f"{status} {http.HTTPStatus(status).phrase}", headers)
        return [body]

    return middleware


def rewrite_asgi(app: Callable[..., Any], rewrite: Rewrite) -> Callable[..., Any]:
    """An ASGI middleware that lets rewrite alter every complete response."""

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, capture)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]]
        status, headers, body = rewrite(
            scope["method"], scope["path"], start["status"], headers, b"".join(chunks)
        )
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    return middleware


def with_length(headers: Headers, body: bytes) -> Headers:
    """headers with Content-Length matching body (so only the intended breakage shows)."""
    kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
    return [*kept, ("Content-Length", str(len(body)))]


def lying_404_and_json(
    method: str, path: str, status: int, headers: Headers, body: bytes
) -> Response:
    if status == 404:
        status = 200
    if path == "/json":
        body = b'{"message":"Hello, world"}'
    return status, with_length(headers, body), body


def no_content_length(
    method: str, path: str, status: int, headers: Headers, body: bytes
) -> Response:
    return status, [(k, v) for k, v in headers if k.lower() != "content-length"], body


def pretty_json(method: str, path: str, status: int, headers: Headers, body: bytes) -> Response:
    if body.startswith(b"{"):
        body = json.dumps(json.loads(body), indent=2).encode()
    return status, with_length(headers, body), body


def wrong_error_code(
    method: str, path: str, status: int, headers: Headers, body: bytes
) -> Response:
    body = body.replace(b'"not_found"', b'"bad_request"')
    return status, with_length(headers, body), body


def no_location(method: str, path: str, status: int, headers: Headers, body: bytes) -> Response:
    return status, [(k, v) for k, v in headers if k.lower() != "location"], body


def crash_on_422(method: str, path: str, status: int, headers: Headers, body: bytes) -> Response:
    if status == 422:
        status, body = 500, b'{"error":"internal_error","message":"boom"}'
    return status, with_length(headers, body), body


def put_forgets_description(
    method: str, path: str, status: int, headers: Headers, body: bytes
) -> Response:
    # Answers as if the PUT had kept the old description (the database effect is checked
    # by a later GET, so this only breaks the PUT response).
    if method == "PUT" and status == 200:
        item = json.loads(body)
        item["description"] = "old"
        body = json.dumps(item, separators=(",", ":")).encode()
    return status, with_length(headers, body), body


def not_405(method: str, path: str, status: int, headers: Headers, body: bytes) -> Response:
    if status == 405:
        status, body = 404, b'{"error":"not_found","message":"nope"}'
    return status, with_length(headers, body), body


@dataclass(frozen=True)
class Breakage:
    interface: str
    rewrite: Rewrite
    check: str
    reason: str  # a substring of the expected problem's reason


BREAKAGES = {
    "no-content-length": Breakage("wsgi", no_content_length, "health", "no Content-Length"),
    "pretty-json": Breakage("wsgi", pretty_json, "json_hello", "not compact"),
    "wrong-error-code": Breakage("wsgi", wrong_error_code, "unknown_route", "'not_found'"),
    "no-location": Breakage("wsgi", no_location, "create_location_header", "Location"),
    "crash-on-422": Breakage("wsgi", crash_on_422, "wrong_types", "got 500"),
    "put-response": Breakage("asgi", put_forgets_description, "put_replaces_all_fields", "old"),
    "405-as-404": Breakage("asgi", not_405, "method_not_allowed", "expected 405, got 404"),
}


def _raw_app(interface: str) -> Callable[..., Any]:
    # The baseline app of that interface, from the registry.
    for variant in load_variants().values():
        if variant.framework == "none" and variant.interface == interface:
            return import_app(variant.app)
    raise LookupError(f"no raw {interface} variant in apps/variants.toml")


def _client(interface: str, rewrite: Rewrite) -> httpx.Client:
    app = _raw_app(interface)
    if interface == "wsgi":
        return wsgi_client(rewrite_wsgi(app, rewrite))
    return asgi_client(rewrite_asgi(app, rewrite))


def _reasons(problems: Iterable[Problem], check: str) -> list[str]:
    return [p.reason for p in problems if p.check == check]


@pytest.mark.usefixtures("contract_env")
def test_full_run_reports_wrong_status_and_wrong_body() -> None:
    with _client("wsgi", lying_404_and_json) as client:
        problems = errors(run_checks(client, upstream=False))
    status = _reasons(problems, "unknown_route")
    body = _reasons(problems, "json_hello")
    assert any("expected 404, got 200" in reason for reason in status), problems
    assert any("Hello, world" in reason for reason in body), problems
    # The rewritten /json body also breaks the schema, reported on its own.
    assert any("'Hello, World!' was expected" in reason for reason in body), body


@pytest.mark.usefixtures("contract_env")
@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_breakage_is_reported(name: str) -> None:
    breakage = BREAKAGES[name]
    with _client(breakage.interface, breakage.rewrite) as client:
        problems = errors(check_by_name(breakage.check).func(client))
    reasons = _reasons(problems, breakage.check)
    assert any(breakage.reason in reason for reason in reasons), problems
