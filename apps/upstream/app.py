"""The upstream service behind GET /io/upstream: GET /delay?ms=N answers after N ms.

A bare ASGI callable (no framework, no database) so that it is never the bottleneck of
an upstream benchmark: serve it with uvicorn on its own CPU, e.g.
``uvicorn apps.upstream.app:app --port 8001 --no-access-log``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_DELAY_MS = 10_000


def _delay_ms(query_string: bytes) -> int | None:
    for key, value in parse_qsl(query_string.decode("latin-1")):
        if key == "ms":
            if value.isascii() and value.isdigit() and int(value) <= MAX_DELAY_MS:
                return int(value)
            return None
    return None


async def _respond(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _http(scope: Scope, send: Send) -> None:
    path, method = scope["path"], scope["method"]
    if path not in ("/delay", "/health"):
        await _respond(send, 404, {"error": "not_found", "message": f"no route for {path}"})
    elif method != "GET":
        message = f"method {method} not allowed on {path}"
        await _respond(send, 405, {"error": "method_not_allowed", "message": message})
    elif path == "/health":
        await _respond(send, 200, {"status": "ok"})
    else:
        ms = _delay_ms(scope.get("query_string", b""))
        if ms is None:
            message = f"ms must be an integer in 0..{MAX_DELAY_MS}"
            await _respond(send, 422, {"error": "validation_error", "message": message})
            return
        await asyncio.sleep(ms / 1000)
        await _respond(send, 200, {"slept_ms": ms})


async def _lifespan(receive: Receive, send: Send) -> None:
    # Nothing to open or close; answering lets servers that require lifespan start.
    while True:
        event = (await receive())["type"]
        await send({"type": f"{event}.complete"})
        if event == "lifespan.shutdown":
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    if scope["type"] == "http":
        await _http(scope, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
    else:
        raise ValueError(f"unsupported ASGI scope type {scope['type']!r}")
