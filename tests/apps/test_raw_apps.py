"""Edge cases of the raw WSGI/ASGI apps and the upstream app that HTTP clients rarely
produce: chunked or length-less bodies, short reads, disconnects, lifespan, crashes.
(The contract itself is checked for every variant in tests/contract.)"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest

from apps.raw_asgi import app as raw_asgi
from apps.raw_wsgi import app as raw_wsgi
from apps.upstream import app as upstream_app

ITEM = b'{"name":"raw","price":1}'
OVER = b'{"name":"' + b"x" * 65_536 + b'","price":1}'


class ShortReads(io.RawIOBase):
    """A wsgi.input that returns at most 7 bytes per read, like a slow socket."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(7 if size < 0 else min(size, 7))


class Untouchable(io.RawIOBase):
    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body must not be read")


def call_wsgi(
    method: str, path: str, stream: Any = None, **environ: str
) -> tuple[str, dict[str, str], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        captured["status"], captured["headers"] = status, dict(headers)

    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "wsgi.input": stream if stream is not None else io.BytesIO(b""),
        **environ,
    }
    body = b"".join(raw_wsgi.app(env, start_response))
    assert captured["headers"].get("Content-Length", str(len(body))) == str(len(body))
    return captured["status"], captured["headers"], body


def test_wsgi_chunked_body_is_read_to_its_end(db_url: str) -> None:
    status, headers, body = call_wsgi(
        "POST", "/items", ShortReads(ITEM),
        CONTENT_TYPE="application/json", HTTP_TRANSFER_ENCODING="chunked",
    )  # fmt: skip
    assert status == "201 Created" and json.loads(body)["name"] == "raw"
    assert headers["Location"] == f"/items/{json.loads(body)['id']}"


def test_wsgi_terminated_stream_over_the_limit_is_413(db_url: str) -> None:
    status, _, body = call_wsgi(
        "POST", "/items", ShortReads(OVER), CONTENT_TYPE="application/json",
        **{"wsgi.input_terminated": True},  # type: ignore[arg-type]
    )  # fmt: skip
    assert status.startswith("413") and json.loads(body)["error"] == "payload_too_large"


def test_wsgi_content_length_over_the_limit_is_413_without_reading(db_url: str) -> None:
    status, _, _ = call_wsgi(
        "POST", "/items", Untouchable(), CONTENT_TYPE="text/plain", CONTENT_LENGTH="65537"
    )
    assert status.startswith("413")


def test_wsgi_short_reads_with_content_length(db_url: str) -> None:
    status, _, _ = call_wsgi(
        "PUT", "/items/1", ShortReads(ITEM),
        CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(ITEM)),
    )  # fmt: skip
    assert status.startswith("404")  # a full, valid body for an id that does not exist


@pytest.mark.parametrize("length", ["abc", "-5", "1.0", " 3"])
def test_wsgi_invalid_content_length_is_400(db_url: str, length: str) -> None:
    status, _, body = call_wsgi(
        "POST", "/items", io.BytesIO(ITEM), CONTENT_TYPE="application/json", CONTENT_LENGTH=length
    )
    assert status.startswith("400") and json.loads(body)["error"] == "bad_request"


def test_wsgi_body_without_length_or_chunking_is_not_read(db_url: str) -> None:
    status, _, _ = call_wsgi("POST", "/items", Untouchable(), CONTENT_TYPE="application/json")
    assert status.startswith("400")


def test_wsgi_204_has_no_body_headers(db_url: str) -> None:
    _, _, created = call_wsgi(
        "POST", "/items", io.BytesIO(ITEM),
        CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(ITEM)),
    )  # fmt: skip
    status, headers, body = call_wsgi("DELETE", f"/items/{json.loads(created)['id']}")
    assert (status, body) == ("204 No Content", b"")
    assert "Content-Length" not in headers and "Content-Type" not in headers


def test_wsgi_unexpected_exception_is_a_500_with_the_error_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> None:
        raise RuntimeError("database exploded")

    monkeypatch.setattr(raw_wsgi, "get_sync_store", broken)
    status, _, body = call_wsgi("GET", "/db/query")
    assert status.startswith("500")
    assert json.loads(body) == {"error": "internal_error", "message": "internal server error"}


# ---- ASGI --------------------------------------------------------------------------


def run_asgi(
    app: Any, scope: dict[str, Any], messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    inbox = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not inbox:
            raise AssertionError("the app read more messages than were sent")
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def http_scope(
    method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": headers or [],
    }


def response(sent: list[dict[str, Any]]) -> tuple[int, dict[bytes, bytes], bytes]:
    start, body = sent
    headers = dict(start["headers"])
    assert (
        headers.get(b"content-length", str(len(body["body"])).encode())
        == str(len(body["body"])).encode()
    )
    return start["status"], headers, body["body"]


def chunks(data: bytes, size: int) -> list[dict[str, Any]]:
    parts = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


def test_asgi_body_in_several_messages(db_url: str) -> None:
    scope = http_scope("POST", "/items", [(b"content-type", b"application/json")])
    status, headers, body = response(run_asgi(raw_asgi.app, scope, chunks(ITEM, 5)))
    assert status == 201 and json.loads(body)["name"] == "raw"
    assert headers[b"location"] == f"/items/{json.loads(body)['id']}".encode()


def test_asgi_streamed_body_over_the_limit_is_413(db_url: str) -> None:
    scope = http_scope("POST", "/items", [(b"content-type", b"application/json")])
    status, _, body = response(run_asgi(raw_asgi.app, scope, chunks(OVER, 4096)))
    assert status == 413 and json.loads(body)["error"] == "payload_too_large"


def test_asgi_content_length_over_the_limit_is_413_without_reading(db_url: str) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"70000")]
    status, _, _ = response(run_asgi(raw_asgi.app, http_scope("POST", "/items", headers), []))
    assert status == 413


def test_asgi_disconnect_mid_body_sends_nothing(db_url: str) -> None:
    scope = http_scope("POST", "/items", [(b"content-type", b"application/json")])
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"name"', "more_body": True},
        {"type": "http.disconnect"},
    ]
    assert run_asgi(raw_asgi.app, scope, messages) == []


def test_asgi_unexpected_exception_is_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("database exploded")

    monkeypatch.setattr(raw_asgi, "get_async_store", broken)
    status, _, body = response(run_asgi(raw_asgi.app, http_scope("GET", "/db/query"), []))
    assert status == 500 and json.loads(body)["error"] == "internal_error"


def test_asgi_lifespan_startup_and_shutdown(db_url: str) -> None:
    events = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = run_asgi(raw_asgi.app, {"type": "lifespan"}, events)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_asgi_lifespan_reports_a_broken_database(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.common import store

    monkeypatch.setenv("DATABASE_URL", "sqlite:///" + str(tmp_path / "missing-dir" / "db"))
    store.reset_stores()
    sent = run_asgi(raw_asgi.app, {"type": "lifespan"}, [{"type": "lifespan.startup"}])
    store.reset_stores()
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "unable to open" in sent[0]["message"]


def test_upstream_app_routes() -> None:
    def get(path: str, query: bytes = b"", method: str = "GET") -> tuple[int, Any]:
        scope = {**http_scope(method, path), "query_string": query}
        status, _, body = response(run_asgi(upstream_app.app, scope, []))
        return status, json.loads(body)

    assert get("/delay", b"ms=3") == (200, {"slept_ms": 3})
    assert get("/health") == (200, {"status": "ok"})
    for bad in (b"", b"ms=", b"ms=-1", b"ms=abc", b"ms=10001", b"ms=%D9%A3"):
        assert get("/delay", bad)[0] == 422
    assert get("/nope")[0] == 404
    assert get("/delay", b"ms=1", "POST")[0] == 405
    events = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = run_asgi(upstream_app.app, {"type": "lifespan"}, events)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
