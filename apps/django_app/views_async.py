"""django-asgi: Django async function views (routes in urls_async.py).

Database access: Django's database layer is synchronous. Its async ORM methods
(aget, acreate, ...) are today thin wrappers that run the sync query through
``sync_to_async(..., thread_sensitive=True)``; these views do exactly that around the
same raw-SQL calls as the sync views. Under Django's ASGIHandler each request gets its
own thread for thread-sensitive code, hence the ASGI alias's per-request connections
(see databases.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse

from apps.common import errors
from apps.common.cpu import hash_chain
from apps.common.upstream import UpstreamError, fetch_delay_async
from apps.common.validation import MAX_ITEM_ID
from apps.django_app.databases import ASGI_ALIAS
from apps.django_app.inputs import item_body, item_id, not_found_item, query_int
from apps.django_app.responses import json_response, no_content, static_target
from apps.django_app.store import DjangoStore

store = DjangoStore(ASGI_ALIAS)
_create_item = sync_to_async(store.create_item, thread_sensitive=True)
_get_item = sync_to_async(store.get_item, thread_sensitive=True)
_list_items = sync_to_async(store.list_items, thread_sensitive=True)
_replace_item = sync_to_async(store.replace_item, thread_sensitive=True)
_delete_item = sync_to_async(store.delete_item, thread_sensitive=True)
_random_world = sync_to_async(store.random_world, thread_sensitive=True)


async def health(request: HttpRequest) -> Any:
    return json_response({"status": "ok"})


async def hello_json(request: HttpRequest) -> Any:
    return json_response({"message": "Hello, World!"})


async def plaintext(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"Hello, World!", content_type="text/plain; charset=utf-8")


async def list_items(request: HttpRequest) -> Any:
    limit = query_int(request, "limit", default=20, lo=1, hi=100)
    offset = query_int(request, "offset", default=0, lo=0, hi=MAX_ITEM_ID)
    return json_response(await _list_items(limit, offset))


async def create_item(request: HttpRequest) -> Any:
    # The ASGI handler has already received the whole body, so reading it here
    # does not block the event loop on the network.
    created = await _create_item(item_body(request))
    return json_response(created, status=201, headers={"Location": f"/items/{created['id']}"})


async def get_item(request: HttpRequest, item_id_segment: str) -> Any:
    key = item_id(item_id_segment)
    found = await _get_item(key)
    if found is None:
        raise not_found_item(key)
    return json_response(found)


async def replace_item(request: HttpRequest, item_id_segment: str) -> Any:
    key = item_id(item_id_segment)
    replaced = await _replace_item(key, item_body(request))
    if replaced is None:
        raise not_found_item(key)
    return json_response(replaced)


async def delete_item(request: HttpRequest, item_id_segment: str) -> HttpResponse:
    key = item_id(item_id_segment)
    if not await _delete_item(key):
        raise not_found_item(key)
    return no_content()


async def db_query(request: HttpRequest) -> Any:
    return json_response(await _random_world())


async def io_sleep(request: HttpRequest) -> Any:
    ms = query_int(request, "ms", default=None, lo=0, hi=10_000)
    await asyncio.sleep(ms / 1000)
    return json_response({"slept_ms": ms})


async def io_upstream(request: HttpRequest) -> Any:
    ms = query_int(request, "ms", default=None, lo=0, hi=10_000)
    try:
        slept = await fetch_delay_async(ms)
    except UpstreamError as exc:
        raise errors.bad_gateway(str(exc)) from exc
    return json_response({"upstream_ms": slept})


async def cpu(request: HttpRequest) -> Any:
    n = query_int(request, "n", default=None, lo=1, hi=1_000_000)
    # Runs on the event loop, as an async view's CPU work does.
    return json_response({"n": n, "digest": hash_chain(n)})


async def static_file(request: HttpRequest, name: str) -> HttpResponse:
    # An HttpResponse of the file's bytes, not FileResponse: Django's ASGI handler would
    # iterate FileResponse's sync file through a thread per block (and warn about it).
    path, content_type = static_target(name)
    return HttpResponse(path.read_bytes(), content_type=content_type)
