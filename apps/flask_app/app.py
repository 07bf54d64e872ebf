"""The contract in idiomatic Flask: decorated views, error handlers, MAX_CONTENT_LENGTH."""

from __future__ import annotations

import time
from typing import Any, cast

from flask import Flask, Response, request, send_from_directory
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
)

from apps.common import errors, static, validation
from apps.common.cpu import hash_chain
from apps.common.errors import ApiError
from apps.common.settings import MAX_BODY_BYTES
from apps.common.store import get_sync_store
from apps.common.upstream import UpstreamError, fetch_delay_sync


class CompactJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, minus two defaults no other variant has: keys sorted
    alphabetically and a trailing newline after the document."""

    sort_keys = False

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        body = self.dumps(obj, separators=(",", ":"))
        return cast(Response, self._app.response_class(body, mimetype=self.mimetype))


# No built-in static route: /static/<name> below serves the contract's files.
app = Flask(__name__, static_folder=None)
app.json = CompactJSONProvider(app)
# Werkzeug refuses a larger Content-Length with 413, but silently truncates a streamed
# (chunked) body at exactly this limit. One byte of slack lets parse_item_body see that
# a streamed body is too long and answer 413 itself.
app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES + 1

ViewResult = tuple[Any, int] | tuple[Any, int, dict[str, str]] | dict[str, Any] | Response


def _item_id(segment: str) -> int:
    item_id = validation.parse_item_id(segment)
    if item_id is None:
        raise errors.not_found(f"no item at {request.path}")
    return item_id


def _item_in() -> validation.ItemIn:
    # Never more than MAX_CONTENT_LENGTH bytes (see above).
    body = request.get_data(cache=False)
    return validation.parse_item_body(body, request.headers.get("Content-Type"))


@app.get("/health")
def health() -> ViewResult:
    return {"status": "ok"}


@app.get("/json")
def hello_json() -> ViewResult:
    return {"message": "Hello, World!"}


@app.get("/plaintext")
def plaintext() -> ViewResult:
    return Response("Hello, World!", mimetype="text/plain")


@app.get("/items")
def list_items() -> ViewResult:
    limit, offset = validation.parse_limit_offset(request.args)
    return get_sync_store().list_items(limit, offset), 200


@app.post("/items")
def create_item() -> ViewResult:
    item = get_sync_store().create_item(_item_in())
    return item, 201, {"Location": f"/items/{item['id']}"}


def _found(item: dict[str, Any] | None, item_id: int) -> dict[str, Any]:
    if item is None:
        raise errors.not_found(f"item {item_id} not found")
    return item


@app.get("/items/<segment>")
def get_item(segment: str) -> ViewResult:
    item_id = _item_id(segment)
    return _found(get_sync_store().get_item(item_id), item_id)


@app.put("/items/<segment>")
def replace_item(segment: str) -> ViewResult:
    item_id = _item_id(segment)
    return _found(get_sync_store().replace_item(item_id, _item_in()), item_id)


@app.delete("/items/<segment>")
def delete_item(segment: str) -> ViewResult:
    item_id = _item_id(segment)
    if not get_sync_store().delete_item(item_id):
        raise errors.not_found(f"item {item_id} not found")
    return Response(status=204)


@app.get("/db/query")
def db_query() -> ViewResult:
    return get_sync_store().random_world()


@app.get("/io/sleep")
def io_sleep() -> ViewResult:
    ms = validation.parse_ms(request.args)
    # Blocks the worker on purpose: this is what a sync app does while it waits.
    time.sleep(ms / 1000)
    return {"slept_ms": ms}


@app.get("/io/upstream")
def io_upstream() -> ViewResult:
    ms = validation.parse_ms(request.args)
    try:
        fetch_delay_sync(ms)
    except UpstreamError as exc:
        raise errors.bad_gateway(str(exc)) from exc
    return {"upstream_ms": ms}


@app.get("/cpu")
def cpu() -> ViewResult:
    n = validation.parse_cpu_n(request.args)
    return {"n": n, "digest": hash_chain(n)}


@app.get("/static/<name>")
def static_file(name: str) -> ViewResult:
    content_type = static.content_type(name)
    if content_type is None:
        raise errors.not_found(f"no static file {name!r}")
    # send_from_directory refuses paths outside the directory and lets the server send
    # the file (wsgi.file_wrapper); the media type is the contract's, not guessed, and
    # Werkzeug adds "; charset=utf-8" to text/* itself.
    media_type = content_type.split(";", 1)[0]
    return send_from_directory(static.STATIC_DIR, name, mimetype=media_type)


def _error_response(exc: ApiError) -> ViewResult:
    return exc.as_dict(), exc.status, dict(exc.headers)


@app.errorhandler(ApiError)
def handle_api_error(exc: ApiError) -> ViewResult:
    return _error_response(exc)


@app.errorhandler(NotFound)
def handle_not_found(exc: NotFound) -> ViewResult:
    return _error_response(errors.not_found(f"no route for {request.path}"))


@app.errorhandler(MethodNotAllowed)
def handle_method_not_allowed(exc: MethodNotAllowed) -> ViewResult:
    allowed = sorted(exc.valid_methods or ())
    return _error_response(errors.method_not_allowed(request.method, request.path, allowed))


@app.errorhandler(RequestEntityTooLarge)
def handle_too_large(exc: RequestEntityTooLarge) -> ViewResult:
    return _error_response(errors.payload_too_large(MAX_BODY_BYTES))


@app.errorhandler(InternalServerError)
def handle_internal_error(exc: InternalServerError) -> ViewResult:
    # Flask has already logged the original exception.
    return _error_response(errors.internal_error())


@app.errorhandler(HTTPException)
def handle_http_exception(exc: HTTPException) -> ViewResult:
    # Any other werkzeug error (e.g. a malformed request line) keeps its status.
    status = exc.code or 500
    default = errors.BAD_REQUEST if status < 500 else errors.INTERNAL_ERROR
    code = errors.CODE_FOR_STATUS.get(status, default)
    return _error_response(ApiError(status, code, exc.description or exc.name))
