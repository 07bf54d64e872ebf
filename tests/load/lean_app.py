"""A tiny WSGI app for tests/load: it counts what it serves, so tests can check the client.

Served by gunicorn from the tests (one worker, so the counters are the whole truth).
GET /stats reports {"requests": n, "ports": distinct client ports} and is not counted:
the number of distinct client ports is the number of TCP connections the client opened.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]

# A chunked body with pieces of several sizes, one larger than a socket read.
CHUNKS = [b"first,", b"x" * 100_000, b",", b"last"]
CHUNKED_BODY = b"".join(CHUNKS)
JSON_BODY = b'{"message":"Hello, World!"}'
STALL_SECONDS = 3.0

_lock = threading.Lock()
_requests = 0
_ports: set[str] = set()


def _json(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(status, headers)
    return [body]


def _count(environ: dict[str, Any]) -> None:
    global _requests
    with _lock:
        _requests += 1
        _ports.add(environ.get("REMOTE_PORT", ""))


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Routes: /json, /chunked, /stall, POST /echo, /stats; anything else is 404."""
    path = environ["PATH_INFO"]
    if path == "/stats":
        with _lock:
            stats = {"requests": _requests, "ports": len(_ports)}
        return _json(start_response, "200 OK", json.dumps(stats).encode())
    _count(environ)
    if path == "/json":
        return _json(start_response, "200 OK", JSON_BODY)
    if path == "/chunked":
        # No Content-Length: gunicorn answers an HTTP/1.1 request with a chunked body.
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return iter(CHUNKS)
    if path == "/echo" and environ["REQUEST_METHOD"] == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        return _json(start_response, "201 Created", body)
    if path == "/stall":
        time.sleep(STALL_SECONDS)
        return _json(start_response, "200 OK", JSON_BODY)
    return _json(start_response, "404 Not Found", b'{"error":"not_found","message":"no route"}')
