"""What is specific to the FastAPI variants (the contract itself is tested in tests/contract).

Covers the places where FastAPI's defaults differ from the contract and the app had to
step in (error shapes, strict query ints, body checks before FastAPI parses the body),
the route table, and where each variant runs its endpoints (event loop vs threadpool).
None of these need the database.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from apps.common.settings import MAX_BODY_BYTES
from apps.contract.clients import asgi_client
from apps.fastapi_app import app_async, app_blocking, app_sync
from apps.fastapi_app.errors import install_error_handlers
from apps.fastapi_app.models import ItemIn

# fastapi-blocking is deliberately wrong (time.sleep in async def) but answers as the
# contract says: every check here holds for it too.
VARIANTS = {"fastapi-async": app_async, "fastapi-sync": app_sync, "fastapi-blocking": app_blocking}
JSON = {"Content-Type": "application/json"}
VALID_ITEM = b'{"name": "widget", "price": 1.5}'
CONTRACT_ROUTES = {
    ("/health", "GET"),
    ("/json", "GET"),
    ("/plaintext", "GET"),
    ("/items", "POST"),
    ("/items", "GET"),
    ("/items/{item_id}", "GET"),
    ("/items/{item_id}", "PUT"),
    ("/items/{item_id}", "DELETE"),
    ("/db/query", "GET"),
    ("/io/sleep", "GET"),
    ("/io/upstream", "GET"),
    ("/cpu", "GET"),
    ("/static/{name}", "GET"),
}


@pytest.fixture(params=sorted(VARIANTS), scope="module")
def module(request: pytest.FixtureRequest) -> ModuleType:
    return VARIANTS[request.param]


@pytest.fixture(scope="module")
def client(module: ModuleType) -> Iterator[httpx.Client]:
    with asgi_client(module.app) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]


def endpoint_routes(app: FastAPI) -> list[APIRoute]:
    return [route for route in app.routes if isinstance(route, APIRoute)]


def test_route_table_is_exactly_the_contract(module: ModuleType) -> None:
    routes = endpoint_routes(module.app)
    # Nothing but the contract's endpoints: no docs, redoc or openapi.json routes.
    assert len(routes) == len(module.app.routes)
    served = {(route.path, method) for route in routes for method in route.methods or ()}
    assert served == CONTRACT_ROUTES


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/json/", "/items/"])
def test_no_docs_routes_and_no_slash_redirects(client: httpx.Client, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")


@pytest.mark.parametrize("module", [app_async, app_blocking])
def test_async_variant_endpoints_are_coroutine_functions(module: ModuleType) -> None:
    for route in endpoint_routes(module.app):
        assert inspect.iscoroutinefunction(route.endpoint), route.path


def test_sync_variant_endpoints_are_plain_functions() -> None:
    for route in endpoint_routes(app_sync.app):
        assert not inspect.iscoroutinefunction(route.endpoint), route.path
        assert inspect.isfunction(route.endpoint), route.path


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@pytest.mark.parametrize(("variant", "on_loop"), [("fastapi-async", True), ("fastapi-sync", False)])
def test_where_endpoints_run(monkeypatch: pytest.MonkeyPatch, variant: str, on_loop: bool) -> None:
    # /cpu calls hash_chain directly in the endpoint: recording whether an event loop
    # runs in the calling thread shows whether FastAPI ran the endpoint on the loop
    # (async def) or in a threadpool worker (plain def).
    module = VARIANTS[variant]
    seen: list[bool] = []

    def recording_hash_chain(n: int) -> str:
        seen.append(_running_loop() is not None)
        return "0" * 64

    monkeypatch.setattr(module, "hash_chain", recording_hash_chain)
    with asgi_client(module.app) as client:
        response = client.get("/cpu", params={"n": 3})
    assert response.status_code == 200, response.text
    assert response.json() == {"n": 3, "digest": "0" * 64}
    assert seen == [on_loop]


@pytest.mark.parametrize(
    ("variant", "sleeper"), [("fastapi-async", "asyncio"), ("fastapi-blocking", "time")]
)
def test_sleep_blocks_the_loop_only_in_the_wrong_variant(
    monkeypatch: pytest.MonkeyPatch, variant: str, sleeper: str
) -> None:
    # The blocking variant's /io/sleep calls time.sleep on the event loop's thread; the
    # right one awaits asyncio.sleep. Record which one ran, and where.
    module = VARIANTS[variant]
    calls: list[tuple[str, bool]] = []

    async def fake_async_sleep(seconds: float) -> None:
        calls.append(("asyncio", _running_loop() is not None))

    def fake_time_sleep(seconds: float) -> None:
        calls.append(("time", _running_loop() is not None))

    monkeypatch.setattr(asyncio, "sleep", fake_async_sleep)
    monkeypatch.setattr(time, "sleep", fake_time_sleep)
    with asgi_client(module.app) as client:
        response = client.get("/io/sleep", params={"ms": 7})
    assert response.status_code == 200, response.text
    assert response.json() == {"slept_ms": 7}
    assert calls == [(sleeper, True)]


@pytest.mark.parametrize("raw", ["1.0", "+1", " 1", "1 ", "1_0", "", "abc", "1.5", "0x1", "١"])
def test_query_ints_are_decimal_digits_only(client: httpx.Client, raw: str) -> None:
    # pydantic's lax int parsing would accept the first five.
    assert_error(client.get("/items", params={"limit": raw}), 422, "validation_error")
    assert_error(client.get("/io/sleep", params={"ms": raw}), 422, "validation_error")


def test_query_int_range_failures_are_422(client: httpx.Client) -> None:
    assert_error(client.get("/items", params={"offset": "9" * 30}), 422, "validation_error")
    assert_error(client.get("/items", params={"offset": "-1"}), 422, "validation_error")
    assert_error(client.get("/cpu", params={"n": "1000001"}), 422, "validation_error")


@pytest.mark.parametrize("segment", ["abc", "0", "-1", "1.5", "99999999999999999999"])
def test_bad_item_id_is_404_not_fastapis_422(client: httpx.Client, segment: str) -> None:
    assert_error(client.get(f"/items/{segment}"), 404, "not_found")
    response = client.put(f"/items/{segment}", content=VALID_ITEM, headers=JSON)
    assert_error(response, 404, "not_found")
    assert_error(client.delete(f"/items/{segment}"), 404, "not_found")


def test_wrong_method_is_405_with_allow_header(client: httpx.Client) -> None:
    response = client.delete("/items")
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_oversized_body_on_a_bodyless_route_is_still_405(client: httpx.Client) -> None:
    # FastAPI's built-in max_body_size would turn this into a plain-text 413.
    response = client.post("/json", content=b"x" * (MAX_BODY_BYTES + 1), headers=JSON)
    assert_error(response, 405, "method_not_allowed")


def test_body_size_limit_is_inclusive(client: httpx.Client) -> None:
    # Exactly the limit passes the size check (and then fails as JSON); one byte more is 413.
    at_limit = client.post("/items", content=b" " * MAX_BODY_BYTES, headers=JSON)
    assert_error(at_limit, 400, "bad_request")
    over = client.post("/items", content=b" " * (MAX_BODY_BYTES + 1), headers=JSON)
    assert_error(over, 413, "payload_too_large")


def test_413_comes_before_415(client: httpx.Client) -> None:
    response = client.post(
        "/items", content=b"x" * (MAX_BODY_BYTES + 1), headers={"Content-Type": "text/plain"}
    )
    assert_error(response, 413, "payload_too_large")


async def _chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b" " * min(size, total - sent)
        sent += len(chunk)
        yield chunk


def _post_chunked(module: ModuleType, total: int) -> httpx.Response:
    # An async generator body has no Content-Length: the app sees several
    # http.request messages and must count the bytes itself.
    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=module.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.post("/items", content=_chunks(total), headers=JSON)

    return asyncio.run(post())


def test_chunked_body_over_the_limit_is_413(module: ModuleType) -> None:
    assert_error(_post_chunked(module, MAX_BODY_BYTES + 1), 413, "payload_too_large")
    # Under the limit the body reaches the JSON decoder (whitespace only: bad JSON).
    assert_error(_post_chunked(module, MAX_BODY_BYTES - 1), 400, "bad_request")


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/merge-patch+json", "application/jsonx", "json"],
)
def test_only_application_json_is_accepted(client: httpx.Client, content_type: str | None) -> None:
    # FastAPI itself would parse any application/*+json body as JSON.
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = client.post("/items", content=VALID_ITEM, headers=headers)
    assert_error(response, 415, "unsupported_media_type")
    response = client.put("/items/1", content=VALID_ITEM, headers=headers)
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "body",
    [
        b"",  # FastAPI would report a missing body (422)
        b"{bad",  # FastAPI would report json_invalid as 422
        b'{"name": "a", "price": NaN}',  # json.loads accepts NaN
        '{"name": "a", "price": 1}'.encode("utf-16"),  # json.loads(bytes) sniffs UTF-16
        b'{"name": "\xff", "price": 1}',
    ],
)
def test_malformed_bodies_are_400(client: httpx.Client, body: bytes) -> None:
    assert_error(client.post("/items", content=body, headers=JSON), 400, "bad_request")


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a", "price": true}',
        b'{"name": "a", "price": "1"}',
        b'{"name": 1, "price": 1}',
        b'{"name": "a", "price": 1e999}',
        b'{"name": "a", "price": 1, "extra": 1}',
        b'{"name": "\\ud800", "price": 1}',
        b'{"name": "a\\u0000", "price": 1}',
        b"[]",
    ],
)
def test_item_body_is_strict(client: httpx.Client, body: bytes) -> None:
    assert_error(client.post("/items", content=body, headers=JSON), 422, "validation_error")


def test_item_model_keeps_ints_and_floats_as_prices() -> None:
    assert ItemIn.model_validate({"name": "a", "price": 3}).price == 3.0
    assert ItemIn.model_validate({"name": "a", "price": 0.5, "description": None}).price == 0.5


def test_handlers_map_fastapis_own_json_errors_to_400() -> None:
    # On a plain APIRoute (not JsonBodyRoute) FastAPI decodes the body itself and reports
    # bad JSON as a json_invalid validation error; the handlers still answer 400.
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(item: ItemIn) -> dict[str, Any]:
        return item.model_dump()

    with asgi_client(app) as client:
        assert_error(client.post("/echo", content=b"{bad", headers=JSON), 400, "bad_request")
        assert_error(client.post("/echo", content=b"{}", headers=JSON), 422, "validation_error")
        assert client.post("/echo", content=VALID_ITEM, headers=JSON).status_code == 200
