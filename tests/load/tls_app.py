"""A tiny ASGI app for the TLS tests of tests/load, served by uvicorn over https (or http).

It counts what it serves, as lean_app.py does: GET /stats reports {"requests": n, "ports":
distinct client ports, "close": requests that said "Connection: close"} and is not counted.
The number of distinct client ports is the number of TCP connections the client opened.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from lean_app import JSON_BODY

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_counts = {"requests": 0, "close": 0}
_ports: set[int] = set()


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Routes: /json, POST /echo, /stats; anything else is 404."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/stats":
        stats = {**_counts, "ports": len(_ports)}
        await _answer(send, 200, json.dumps(stats).encode())
        return
    _counts["requests"] += 1
    _ports.add(scope["client"][1])
    connection = b", ".join(value for name, value in scope["headers"] if name == b"connection")
    if b"close" in connection.lower():
        _counts["close"] += 1
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if path == "/json":
        await _answer(send, 200, JSON_BODY)
    elif path == "/echo" and scope["method"] == "POST":
        await _answer(send, 201, body)
    else:
        await _answer(send, 404, b'{"error":"not_found","message":"no route"}')
