"""Unit tests of the check machinery: item counting, compact JSON, body padding, clients."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest

from apps.contract.checks_inputs import padded_body
from apps.contract.clients import asgi_client, wsgi_client
from apps.contract.items import count_items
from apps.contract.probe import Session, is_compact_json


def paged_items_app(total: int) -> Callable[..., Any]:
    """A WSGI app serving GET /items?limit=&offset= over `total` items, and nothing else."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
        limit, offset = int(query.get("limit", 20)), int(query.get("offset", 0))
        ids = range(offset + 1, min(total, offset + limit) + 1)
        items = [{"id": i, "name": "n", "price": 1, "description": None} for i in ids]
        body = json.dumps(items, separators=(",", ":")).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [body]

    return app


@pytest.mark.parametrize("total", [0, 1, 99, 100, 101, 199, 200, 250, 399, 400, 401, 1000, 12345])
def test_count_items(total: int) -> None:
    session = Session(wsgi_client(paged_items_app(total)), "count")
    assert count_items(session) == total
    assert session.problems == []


@pytest.mark.parametrize(
    ("text", "compact"),
    [
        ('{"a":1,"b":[1,2]}', True),
        ('{"a":"spaces inside strings are fine"}', True),
        ('{"a":"escaped \\" quote, then: more"}', True),
        ('{"a": 1}', False),
        ('{"a":1, "b":2}', False),
        ('{\n  "a":1\n}', False),
        ('["x" ,1]', False),
    ],
)
def test_is_compact_json(text: str, compact: bool) -> None:
    assert is_compact_json(text) is compact


@pytest.mark.parametrize("size", [30, 65536, 65537, 262144])
def test_padded_body_has_the_exact_size(size: int) -> None:
    body = padded_body(size)
    assert len(body) == size
    assert json.loads(body) == {"name": "padded", "price": 1}


def test_session_reports_a_wrong_content_length() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "99")])
        return [b'{"status":"ok"}']

    session = Session(wsgi_client(app), "length")
    session.call("GET", "/health", expect=200)
    assert [p.reason for p in session.problems] == [
        "GET /health: Content-Length '99' but the body has 15 bytes"
    ]


def test_asgi_client_keeps_the_app_headers_and_one_loop() -> None:
    loops: set[int] = set()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        import asyncio

        loops.add(id(asyncio.get_running_loop()))
        body = (await receive())["body"]
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    for _ in range(2):
        with asgi_client(app) as client:
            response = client.post("/echo", content=iter([b"a", b"b"]))
            assert response.content == b"ab"
            # No Content-Length was sent by the app, so none may appear.
            assert "content-length" not in response.headers
    assert len(loops) == 1
