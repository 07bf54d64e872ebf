"""FastAPI variant with plain `def` endpoints and the blocking data layer.

FastAPI runs every plain `def` endpoint in its threadpool (AnyIO worker threads, 40
by default), so blocking calls (the database, urllib3, time.sleep) tie up a worker
thread, not the event loop. That threadpool hop and its size limit are what this
variant measures against app_async.
"""

from __future__ import annotations

import time

from fastapi import HTTPException, Response
from fastapi.responses import FileResponse, PlainTextResponse

from apps.common.cpu import hash_chain
from apps.common.store import get_sync_store
from apps.common.upstream import fetch_delay_sync
from apps.fastapi_app.factory import create_app, static_response
from apps.fastapi_app.models import Item, ItemIn
from apps.fastapi_app.params import HashRounds, ItemId, Limit, Millis, Offset

# No lifespan work: the store and the upstream client are created lazily per process,
# and apps.common offers no way to close the sync ones without creating them first.
app = create_app()


def _not_found(item_id: int) -> HTTPException:
    return HTTPException(status_code=404, detail=f"no item with id {item_id}")


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/json")
def json_message() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/plaintext", response_class=PlainTextResponse)
def plaintext() -> str:
    return "Hello, World!"


@app.post("/items", status_code=201)
def create_item(item: ItemIn, response: Response) -> Item:
    created = get_sync_store().create_item(item.to_common())
    response.headers["Location"] = f"/items/{created['id']}"
    return Item.model_validate(created)


@app.get("/items")
def list_items(limit: Limit = 20, offset: Offset = 0) -> list[Item]:
    return [Item.model_validate(row) for row in get_sync_store().list_items(limit, offset)]


@app.get("/items/{item_id}")
def get_item(item_id: ItemId) -> Item:
    found = get_sync_store().get_item(item_id)
    if found is None:
        raise _not_found(item_id)
    return Item.model_validate(found)


@app.put("/items/{item_id}")
def replace_item(item_id: ItemId, item: ItemIn) -> Item:
    replaced = get_sync_store().replace_item(item_id, item.to_common())
    if replaced is None:
        raise _not_found(item_id)
    return Item.model_validate(replaced)


@app.delete("/items/{item_id}", status_code=204, response_class=Response)
def delete_item(item_id: ItemId) -> Response:
    if not get_sync_store().delete_item(item_id):
        raise _not_found(item_id)
    return Response(status_code=204)


@app.get("/db/query")
def db_query() -> dict[str, int]:
    return get_sync_store().random_world()


@app.get("/io/sleep")
def io_sleep(ms: Millis) -> dict[str, int]:
    time.sleep(ms / 1000)
    return {"slept_ms": ms}


@app.get("/io/upstream")
def io_upstream(ms: Millis) -> dict[str, int]:
    return {"upstream_ms": fetch_delay_sync(ms)}


@app.get("/cpu")
def cpu(n: HashRounds) -> dict[str, int | str]:
    return {"n": n, "digest": hash_chain(n)}


@app.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    return static_response(name)
