"""The contract as a plain ASGI callable: the ASGI baseline every framework is compared to.

Routing is two dict lookups; handlers return (status, content type, body, extra headers).
The lifespan protocol opens the data store at startup and closes pools at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from apps.common import errors, routes, static, validation
from apps.common.cpu import hash_chain
from apps.common.errors import ApiError, json_bytes
from apps.common.settings import MAX_BODY_BYTES
from apps.common.store import close_async_store, get_async_store
from apps.common.upstream import UpstreamError, close_async_client, fetch_delay_async

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]
Result = tuple[int, bytes | None, bytes, RawHeaders]

log = logging.getLogger(__name__)

JSON = b"application/json"
TEXT = b"text/plain; charset=utf-8"
_NO_HEADERS: RawHeaders = []


class ClientDisconnected(Exception):
    """The client went away before sending its whole body; nobody is left to answer."""


class Request:
    """What handlers need from one HTTP request."""

    __slots__ = ("_receive", "headers", "method", "path", "query_string")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: bytes = scope.get("query_string", b"")
        self.headers: RawHeaders = scope.get("headers", [])
        self._receive = receive

    def header(self, name: bytes) -> str | None:
        """The first value of a header (name in lower case), decoded as latin-1."""
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None

    def query(self) -> dict[str, str]:
        """Query parameters; the first value wins when a parameter repeats."""
        params: dict[str, str] = {}
        for key, value in parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True):
            params.setdefault(key, value)
        return params

    async def body(self) -> bytes:
        """The body, refused with 413 as soon as it is known to exceed MAX_BODY_BYTES
        (by Content-Length before reading, else while reading)."""
        raw_length = self.header(b"content-length")
        if raw_length is not None:
            if not raw_length.isdigit():
                raise errors.bad_request(f"invalid Content-Length {raw_length!r}")
            validation.check_body_size(int(raw_length))
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                validation.check_body_size(size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def item_in(self) -> validation.ItemIn:
        """The validated ItemIn body."""
        body = await self.body()
        return validation.parse_item_body(body, self.header(b"content-type"))


def _json(status: int, value: Any, headers: RawHeaders = _NO_HEADERS) -> Result:
    return status, JSON, json_bytes(value), headers


async def health(request: Request) -> Result:
    return _json(200, {"status": "ok"})


async def hello_json(request: Request) -> Result:
    return _json(200, {"message": "Hello, World!"})


async def plaintext(request: Request) -> Result:
    return 200, TEXT, b"Hello, World!", _NO_HEADERS


async def list_items(request: Request) -> Result:
    limit, offset = validation.parse_limit_offset(request.query())
    return _json(200, await get_async_store().list_items(limit, offset))


async def create_item(request: Request) -> Result:
    item = await get_async_store().create_item(await request.item_in())
    return _json(201, item, [(b"location", f"/items/{item['id']}".encode())])


async def get_item(request: Request, item_id: int) -> Result:
    item = await get_async_store().get_item(item_id)
    if item is None:
        raise errors.not_found(f"item {item_id} not found")
    return _json(200, item)


async def replace_item(request: Request, item_id: int) -> Result:
    item = await get_async_store().replace_item(item_id, await request.item_in())
    if item is None:
        raise errors.not_found(f"item {item_id} not found")
    return _json(200, item)


async def delete_item(request: Request, item_id: int) -> Result:
    if not await get_async_store().delete_item(item_id):
        raise errors.not_found(f"item {item_id} not found")
    return 204, None, b"", _NO_HEADERS


async def db_query(request: Request) -> Result:
    return _json(200, await get_async_store().random_world())


async def io_sleep(request: Request) -> Result:
    ms = validation.parse_ms(request.query())
    await asyncio.sleep(ms / 1000)
    return _json(200, {"slept_ms": ms})


async def io_upstream(request: Request) -> Result:
    ms = validation.parse_ms(request.query())
    try:
        await fetch_delay_async(ms)
    except UpstreamError as exc:
        raise errors.bad_gateway(str(exc)) from exc
    return _json(200, {"upstream_ms": ms})


async def cpu(request: Request) -> Result:
    n = validation.parse_cpu_n(request.query())
    # Runs on the event loop on purpose: CPU work in an async handler stalls every other
    # request of this worker, which is what the cpu mix measures.
    return _json(200, {"n": n, "digest": hash_chain(n)})


async def static_file(request: Request, name: str) -> Result:
    path = static.path_of(name)
    if path is None:
        raise errors.not_found(f"no static file {name!r}")
    # Read on the event loop: at most 100 KiB from the page cache, cheaper than a thread
    # hop. Plain ASGI has no file-sending message every server supports.
    content_type = static.content_type(name) or ""
    return 200, content_type.encode(), path.read_bytes(), _NO_HEADERS


ROUTER = routes.bind(globals())


async def dispatch(request: Request) -> Result:
    """Route one request to its handler; raises ApiError for routing failures."""
    handler, args = ROUTER.resolve(request.method, request.path)
    result: Result = await handler(request, *args)
    return result


def _error_result(exc: ApiError) -> Result:
    headers = [(k.lower().encode(), v.encode("latin-1")) for k, v in exc.headers]
    return exc.status, JSON, exc.body(), headers


async def _http(scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    try:
        status, content_type, body, extra = await dispatch(request)
    except ApiError as exc:
        status, content_type, body, extra = _error_result(exc)
    except ClientDisconnected:
        return
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        status, content_type, body, extra = _error_result(errors.internal_error())
    headers: RawHeaders = []
    # RFC 9110: a 204 carries neither a body nor Content-Length.
    if status != 204:
        headers.append((b"content-type", content_type or JSON))
        headers.append((b"content-length", str(len(body)).encode()))
    headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _startup() -> None:
    # Prepares the database and opens the first pooled connection before traffic.
    await get_async_store().count_items()


async def _shutdown() -> None:
    await close_async_store()
    await close_async_client()


_LIFESPAN_STEPS = {"lifespan.startup": _startup, "lifespan.shutdown": _shutdown}


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        event = (await receive())["type"]
        try:
            await _LIFESPAN_STEPS[event]()
        except Exception as exc:
            log.exception("%s failed", event)
            await send({"type": f"{event}.failed", "message": repr(exc)})
            return
        await send({"type": f"{event}.complete"})
        if event == "lifespan.shutdown":
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point (http and lifespan scopes)."""
    if scope["type"] == "http":
        await _http(scope, receive, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
    else:
        raise ValueError(f"unsupported ASGI scope type {scope['type']!r}")
