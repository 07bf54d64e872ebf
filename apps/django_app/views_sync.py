"""django-wsgi: plain Django sync function views (routes in urls_sync.py)."""

from __future__ import annotations

import time
from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse

from apps.common import errors
from apps.common.cpu import hash_chain
from apps.common.upstream import UpstreamError, fetch_delay_sync
from apps.common.validation import MAX_ITEM_ID
from apps.django_app.databases import DEFAULT_ALIAS
from apps.django_app.inputs import item_body, item_id, not_found_item, query_int
from apps.django_app.responses import file_response, json_response, no_content
from apps.django_app.store import DjangoStore

store = DjangoStore(DEFAULT_ALIAS)


def health(request: HttpRequest) -> Any:
    return json_response({"status": "ok"})


def hello_json(request: HttpRequest) -> Any:
    return json_response({"message": "Hello, World!"})


def plaintext(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"Hello, World!", content_type="text/plain; charset=utf-8")


def list_items(request: HttpRequest) -> Any:
    limit = query_int(request, "limit", default=20, lo=1, hi=100)
    offset = query_int(request, "offset", default=0, lo=0, hi=MAX_ITEM_ID)
    return json_response(store.list_items(limit, offset))


def create_item(request: HttpRequest) -> Any:
    created = store.create_item(item_body(request))
    return json_response(created, status=201, headers={"Location": f"/items/{created['id']}"})


def get_item(request: HttpRequest, item_id_segment: str) -> Any:
    key = item_id(item_id_segment)
    found = store.get_item(key)
    if found is None:
        raise not_found_item(key)
    return json_response(found)


def replace_item(request: HttpRequest, item_id_segment: str) -> Any:
    key = item_id(item_id_segment)
    replaced = store.replace_item(key, item_body(request))
    if replaced is None:
        raise not_found_item(key)
    return json_response(replaced)


def delete_item(request: HttpRequest, item_id_segment: str) -> HttpResponse:
    key = item_id(item_id_segment)
    if not store.delete_item(key):
        raise not_found_item(key)
    return no_content()


def db_query(request: HttpRequest) -> Any:
    return json_response(store.random_world())


def io_sleep(request: HttpRequest) -> Any:
    ms = query_int(request, "ms", default=None, lo=0, hi=10_000)
    # Blocks the worker thread on purpose: that is what a sync app does.
    time.sleep(ms / 1000)
    return json_response({"slept_ms": ms})


def io_upstream(request: HttpRequest) -> Any:
    ms = query_int(request, "ms", default=None, lo=0, hi=10_000)
    try:
        slept = fetch_delay_sync(ms)
    except UpstreamError as exc:
        raise errors.bad_gateway(str(exc)) from exc
    return json_response({"upstream_ms": slept})


def cpu(request: HttpRequest) -> Any:
    n = query_int(request, "n", default=None, lo=1, hi=1_000_000)
    return json_response({"n": n, "digest": hash_chain(n)})


def static_file(request: HttpRequest, name: str) -> FileResponse:
    return file_response(name)
