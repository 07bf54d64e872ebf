"""FastAPI variant with `async def` endpoints and the async data layer.

Every endpoint runs on the event loop: database calls, the upstream call and
/io/sleep are awaited, while /cpu's hashing blocks the loop as async code does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Response
from fastapi.responses import FileResponse, PlainTextResponse

from apps.common.cpu import hash_chain
from apps.common.store import close_async_store, get_async_store
from apps.common.upstream import close_async_client, fetch_delay_async
from apps.fastapi_app.factory import create_app, static_response
from apps.fastapi_app.models import Item, ItemIn
from apps.fastapi_app.params import HashRounds, ItemId, Limit, Millis, Offset


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Pools and sessions are created lazily on first use (in-process test clients
    # send no lifespan events); this only closes the serving loop's ones at shutdown.
    yield
    await close_async_store()
    await close_async_client()


app = create_app(lifespan=_lifespan)


def _not_found(item_id: int) -> HTTPException:
    return HTTPException(status_code=404, detail=f"no item with id {item_id}")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/json")
async def json_message() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return "Hello, World!"


@app.post("/items", status_code=201)
async def create_item(item: ItemIn, response: Response) -> Item:
    created = await get_async_store().create_item(item.to_common())
    response.headers["Location"] = f"/items/{created['id']}"
    return Item.model_validate(created)


@app.get("/items")
async def list_items(limit: Limit = 20, offset: Offset = 0) -> list[Item]:
    rows = await get_async_store().list_items(limit, offset)
    return [Item.model_validate(row) for row in rows]


@app.get("/items/{item_id}")
async def get_item(item_id: ItemId) -> Item:
    found = await get_async_store().get_item(item_id)
    if found is None:
        raise _not_found(item_id)
    return Item.model_validate(found)


@app.put("/items/{item_id}")
async def replace_item(item_id: ItemId, item: ItemIn) -> Item:
    replaced = await get_async_store().replace_item(item_id, item.to_common())
    if replaced is None:
        raise _not_found(item_id)
    return Item.model_validate(replaced)


@app.delete("/items/{item_id}", status_code=204, response_class=Response)
async def delete_item(item_id: ItemId) -> Response:
    if not await get_async_store().delete_item(item_id):
        raise _not_found(item_id)
    return Response(status_code=204)


@app.get("/db/query")
async def db_query() -> dict[str, int]:
    return await get_async_store().random_world()


@app.get("/io/sleep")
async def io_sleep(ms: Millis) -> dict[str, int]:
    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms}


@app.get("/io/upstream")
async def io_upstream(ms: Millis) -> dict[str, int]:
    return {"upstream_ms": await fetch_delay_async(ms)}


@app.get("/cpu")
async def cpu(n: HashRounds) -> dict[str, int | str]:
    return {"n": n, "digest": hash_chain(n)}


@app.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    return static_response(name)
