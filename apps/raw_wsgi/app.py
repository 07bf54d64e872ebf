"""The contract as a plain WSGI callable: the WSGI baseline every framework is compared to.

Routing is two dict lookups; handlers return (status, content type, body, extra headers).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from apps.common import errors, routes, static, validation
from apps.common.cpu import hash_chain
from apps.common.errors import ApiError, json_bytes
from apps.common.settings import MAX_BODY_BYTES
from apps.common.store import get_sync_store
from apps.common.upstream import UpstreamError, fetch_delay_sync

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
Headers = list[tuple[str, str]]
# The body is bytes, or the Path of a static file the server sends (wsgi.file_wrapper).
Result = tuple[int, str | None, bytes | Path, Headers]

log = logging.getLogger(__name__)

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}
_NO_HEADERS: Headers = []
FILE_BLOCK = 64 * 1024


def _json(status: int, value: Any, headers: Headers = _NO_HEADERS) -> Result:
    return status, JSON, json_bytes(value), headers


def _query(environ: Environ) -> dict[str, str]:
    # The first value wins when a parameter repeats.
    params: dict[str, str] = {}
    for key, value in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True):
        params.setdefault(key, value)
    return params


def _read_limited(stream: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _read_body(environ: Environ) -> bytes:
    """The request body, refusing (413) anything over MAX_BODY_BYTES before reading it
    all: by Content-Length if given, else by reading at most one byte too many."""
    stream = environ["wsgi.input"]
    raw_length = environ.get("CONTENT_LENGTH", "")
    if raw_length:
        if not raw_length.isdigit():
            raise errors.bad_request(f"invalid Content-Length {raw_length!r}")
        length = int(raw_length)
        validation.check_body_size(length)
        return _read_limited(stream, length)
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    # Without a length, only a chunked or server-terminated stream may be read to its
    # end; reading a plain socket here could block forever.
    if not (chunked or environ.get("wsgi.input_terminated")):
        return b""
    body = _read_limited(stream, MAX_BODY_BYTES + 1)
    validation.check_body_size(len(body))
    return body


def _item_in(environ: Environ) -> validation.ItemIn:
    body = _read_body(environ)
    return validation.parse_item_body(body, environ.get("CONTENT_TYPE"))


def health(environ: Environ) -> Result:
    return _json(200, {"status": "ok"})


def hello_json(environ: Environ) -> Result:
    return _json(200, {"message": "Hello, World!"})


def plaintext(environ: Environ) -> Result:
    return 200, TEXT, b"Hello, World!", _NO_HEADERS


def list_items(environ: Environ) -> Result:
    limit, offset = validation.parse_limit_offset(_query(environ))
    return _json(200, get_sync_store().list_items(limit, offset))


def create_item(environ: Environ) -> Result:
    item = get_sync_store().create_item(_item_in(environ))
    return _json(201, item, [("Location", f"/items/{item['id']}")])


def get_item(environ: Environ, item_id: int) -> Result:
    item = get_sync_store().get_item(item_id)
    if item is None:
        raise errors.not_found(f"item {item_id} not found")
    return _json(200, item)


def replace_item(environ: Environ, item_id: int) -> Result:
    item = get_sync_store().replace_item(item_id, _item_in(environ))
    if item is None:
        raise errors.not_found(f"item {item_id} not found")
    return _json(200, item)


def delete_item(environ: Environ, item_id: int) -> Result:
    if not get_sync_store().delete_item(item_id):
        raise errors.not_found(f"item {item_id} not found")
    return 204, None, b"", _NO_HEADERS


def db_query(environ: Environ) -> Result:
    return _json(200, get_sync_store().random_world())


def io_sleep(environ: Environ) -> Result:
    ms = validation.parse_ms(_query(environ))
    # Blocks the worker on purpose: this is what a sync app does while it waits.
    time.sleep(ms / 1000)
    return _json(200, {"slept_ms": ms})


def io_upstream(environ: Environ) -> Result:
    ms = validation.parse_ms(_query(environ))
    try:
        fetch_delay_sync(ms)
    except UpstreamError as exc:
        raise errors.bad_gateway(str(exc)) from exc
    return _json(200, {"upstream_ms": ms})


def cpu(environ: Environ) -> Result:
    n = validation.parse_cpu_n(_query(environ))
    return _json(200, {"n": n, "digest": hash_chain(n)})


def static_file(environ: Environ, name: str) -> Result:
    path = static.path_of(name)
    if path is None:
        raise errors.not_found(f"no static file {name!r}")
    return 200, static.content_type(name), path, _NO_HEADERS


ROUTER = routes.bind(globals())


def dispatch(environ: Environ) -> Result:
    """Route one request to its handler; raises ApiError for routing failures."""
    path = environ.get("PATH_INFO", "") or "/"
    handler, args = ROUTER.resolve(environ["REQUEST_METHOD"], path)
    result: Result = handler(environ, *args)
    return result


def _error_result(exc: ApiError) -> Result:
    return exc.status, JSON, exc.body(), list(exc.headers)


def _file_body(environ: Environ, path: Path) -> tuple[int, Iterable[bytes]]:
    """(length, body iterable) of a static file: the server's wsgi.file_wrapper (sendfile
    where it can) when it offers one, else the file's bytes."""
    handle = path.open("rb")
    length = os.fstat(handle.fileno()).st_size
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return length, wrapper(handle, FILE_BLOCK)
    with handle:
        return length, [handle.read()]


def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The WSGI entry point."""
    try:
        status, content_type, body, extra = dispatch(environ)
    except ApiError as exc:
        status, content_type, body, extra = _error_result(exc)
    except Exception:
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
        log.exception("unhandled error in %s %s", method, path)
        status, content_type, body, extra = _error_result(errors.internal_error())
    if isinstance(body, Path):
        length, chunks = _file_body(environ, body)
    else:
        length, chunks = len(body), [body]
    headers: Headers = []
    # RFC 9110: a 204 carries neither a body nor Content-Length.
    if status != 204:
        headers.append(("Content-Type", content_type or JSON))
        headers.append(("Content-Length", str(length)))
    headers.extend(extra)
    start_response(STATUS_LINES[status], headers)
    return chunks
