"""The data layer every app variant shares: items CRUD and the seeded `world` table.

get_sync_store() gives one SyncStore per process (re-created after a fork);
get_async_store() gives one AsyncStore per running event loop. Both read the settings
(DATABASE_URL, DB_POOL_SIZE) when they create a store; reset_stores() forgets every
cached store so that tests can point the apps at another database.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import threading
import time
from typing import Any

from apps.common import db
from apps.common.settings import load_settings
from apps.common.sql import (
    POSTGRES,
    SQLITE,
    WORLD_ROWS,
    Queries,
    dialect_of,
    sql,
    sqlite_path,
    world_rows,
)
from apps.common.validation import ItemIn

# Any constant works; it only has to be the same in every process preparing the database.
_PG_PREPARE_LOCK_KEY = 7_345_112_019


def item_from_row(row: db.Row) -> dict[str, Any]:
    """An Item dict from an (id, name, price, description) row."""
    return {"id": int(row[0]), "name": row[1], "price": float(row[2]), "description": row[3]}


def world_from_row(row: db.Row) -> dict[str, int]:
    """A world dict (contract spelling) from an (id, randomnumber) row."""
    return {"id": int(row[0]), "randomNumber": int(row[1])}


def random_world_id() -> int:
    """A uniformly random id of the seeded world table."""
    return random.randint(1, WORLD_ROWS)


def _item_params(item: ItemIn) -> tuple[str, float, str | None]:
    return (item.name, item.price, item.description)


class SyncStore:
    """Blocking data access; safe to share between the threads of one process."""

    def __init__(self, backend: db.SyncBackend, queries: Queries) -> None:
        self._db = backend
        self._q = queries

    def create_item(self, item: ItemIn) -> dict[str, Any]:
        """Insert an item and return it with its new id."""
        return item_from_row(self._db.write(self._q.insert_item, _item_params(item))[0])

    def get_item(self, item_id: int) -> dict[str, Any] | None:
        """The item, or None if there is no such id."""
        rows = self._db.read(self._q.select_item, (item_id,))
        return item_from_row(rows[0]) if rows else None

    def list_items(self, limit: int, offset: int) -> list[dict[str, Any]]:
        """Items ordered by id."""
        return [item_from_row(r) for r in self._db.read(self._q.select_items, (limit, offset))]

    def replace_item(self, item_id: int, item: ItemIn) -> dict[str, Any] | None:
        """Replace every field of an item; None if there is no such id."""
        rows = self._db.write(self._q.update_item, (*_item_params(item), item_id))
        return item_from_row(rows[0]) if rows else None

    def delete_item(self, item_id: int) -> bool:
        """Delete an item; False if there was no such id."""
        return bool(self._db.write(self._q.delete_item, (item_id,)))

    def random_world(self) -> dict[str, int]:
        """One world row by a random id: {"id": .., "randomNumber": ..}."""
        return world_from_row(self._db.read(self._q.select_world, (random_world_id(),))[0])

    def count_items(self) -> int:
        """How many items exist."""
        return int(self._db.read(self._q.count_items, ())[0][0])

    def close(self) -> None:
        """Close the calling thread's connection (SQLite) or the pool (PostgreSQL)."""
        self._db.close()


class AsyncStore:
    """Non-blocking data access bound to the event loop that created it."""

    def __init__(self, backend: db.AsyncBackend, queries: Queries, url: str) -> None:
        self._db = backend
        self._q = queries
        self._url = url
        self._prepared = False
        self._prepare_lock = asyncio.Lock()

    async def _ready(self) -> db.AsyncBackend:
        if not self._prepared:
            async with self._prepare_lock:
                if not self._prepared:
                    await asyncio.to_thread(_prepare_once, self._url)
                    self._prepared = True
        return self._db

    async def create_item(self, item: ItemIn) -> dict[str, Any]:
        """Insert an item and return it with its new id."""
        rows = await (await self._ready()).write(self._q.insert_item, _item_params(item))
        return item_from_row(rows[0])

    async def get_item(self, item_id: int) -> dict[str, Any] | None:
        """The item, or None if there is no such id."""
        rows = await (await self._ready()).read(self._q.select_item, (item_id,))
        return item_from_row(rows[0]) if rows else None

    async def list_items(self, limit: int, offset: int) -> list[dict[str, Any]]:
        """Items ordered by id."""
        rows = await (await self._ready()).read(self._q.select_items, (limit, offset))
        return [item_from_row(r) for r in rows]

    async def replace_item(self, item_id: int, item: ItemIn) -> dict[str, Any] | None:
        """Replace every field of an item; None if there is no such id."""
        params = (*_item_params(item), item_id)
        rows = await (await self._ready()).write(self._q.update_item, params)
        return item_from_row(rows[0]) if rows else None

    async def delete_item(self, item_id: int) -> bool:
        """Delete an item; False if there was no such id."""
        return bool(await (await self._ready()).write(self._q.delete_item, (item_id,)))

    async def random_world(self) -> dict[str, int]:
        """One world row by a random id: {"id": .., "randomNumber": ..}."""
        rows = await (await self._ready()).read(self._q.select_world, (random_world_id(),))
        return world_from_row(rows[0])

    async def count_items(self) -> int:
        """How many items exist."""
        return int((await (await self._ready()).read(self._q.count_items, ()))[0][0])

    async def close(self) -> None:
        """Close this loop's connections."""
        await self._db.close()

    def abandon(self) -> None:
        """Stop idle connections without awaiting (the loop is closed or not ours)."""
        self._db.abandon()


# ---- database preparation ----------------------------------------------------------


def prepare_database(url: str) -> None:
    """Create the tables and seed `world` if needed. Idempotent, and safe when several
    processes call it at the same time (SQLite write lock / PostgreSQL advisory lock)."""
    dialect = dialect_of(url)
    if dialect == SQLITE:
        _prepare_sqlite(sqlite_path(url), sql(SQLITE))
    else:
        _prepare_postgres(url, sql(POSTGRES))


def _enable_wal(conn: sqlite3.Connection, path: str) -> None:
    # Switching to WAL needs a moment of exclusive access; another process preparing
    # the same file at the same time makes it report the old mode, so retry briefly.
    deadline = time.monotonic() + db.BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError:
            mode = "locked"
        if str(mode).lower() == "wal":
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"could not switch {path!r} to WAL mode (still {mode!r})")
        time.sleep(0.05)


def _prepare_sqlite(path: str, q: Queries) -> None:
    conn = db.sqlite_connect(path)
    try:
        _enable_wal(conn, path)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(q.create_items)
            conn.execute(q.create_world)
            if conn.execute(q.count_world).fetchone()[0] < WORLD_ROWS:
                conn.executemany(q.seed_world, world_rows())
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


def _prepare_postgres(url: str, q: Queries) -> None:
    import psycopg

    with psycopg.connect(url) as conn, conn.transaction():
        # Concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL's
        # catalogs; the transaction-scoped advisory lock serialises the preparers.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_PREPARE_LOCK_KEY,))
        conn.execute(q.create_items)
        conn.execute(q.create_world)
        row = conn.execute(q.count_world).fetchone()
        if row is None or row[0] < WORLD_ROWS:
            with conn.cursor() as cursor:
                cursor.executemany(q.seed_world, world_rows())


_prepared: set[tuple[int, str]] = set()
_prepared_lock = threading.Lock()


def _prepare_once(url: str) -> None:
    key = (os.getpid(), url)
    if key in _prepared:
        return
    with _prepared_lock:
        if key not in _prepared:
            prepare_database(url)
            _prepared.add(key)


# ---- the per-process / per-loop store registry -------------------------------------

_lock = threading.Lock()
_sync_store: SyncStore | None = None
_sync_pid = 0
_async_stores: dict[asyncio.AbstractEventLoop, AsyncStore] = {}
_async_pid = 0
# Stores inherited through fork(): the child must neither use nor close the parent's
# connections (closing a SQLite handle in the child can release the parent's locks,
# closing a PostgreSQL socket would end the parent's session), so keep them referenced.
_inherited: list[object] = []


def get_sync_store() -> SyncStore:
    """The process's SyncStore, created (and the database prepared) on first use."""
    global _sync_store, _sync_pid
    store, pid = _sync_store, os.getpid()
    if store is not None and _sync_pid == pid:
        return store
    with _lock:
        if _sync_store is not None and _sync_pid == pid:
            return _sync_store
        if _sync_store is not None:
            _inherited.append(_sync_store)
        settings = load_settings()
        url = settings.database_url
        _prepare_once(url)
        backend: db.SyncBackend
        if dialect_of(url) == SQLITE:
            backend = db.SqliteSync(sqlite_path(url))
        else:
            backend = db.PostgresSync(url, settings.db_pool_size)
        _sync_store = SyncStore(backend, sql(dialect_of(url)))
        _sync_pid = pid
        return _sync_store


def _new_async_store() -> AsyncStore:
    settings = load_settings()
    url = settings.database_url
    backend: db.AsyncBackend
    if dialect_of(url) == SQLITE:
        backend = db.SqliteAsync(sqlite_path(url), settings.db_pool_size)
    else:
        backend = db.PostgresAsync(url, settings.db_pool_size)
    return AsyncStore(backend, sql(dialect_of(url)), url)


def get_async_store() -> AsyncStore:
    """The AsyncStore of the running event loop, created on first use in that loop."""
    global _async_pid
    loop = asyncio.get_running_loop()
    pid = os.getpid()
    store = _async_stores.get(loop)
    if store is not None and _async_pid == pid:
        return store
    with _lock:
        if _async_pid != pid:
            _inherited.extend(_async_stores.values())
            _async_stores.clear()
            _async_pid = pid
        for old_loop in [lp for lp in _async_stores if lp.is_closed()]:
            _async_stores.pop(old_loop).abandon()
        store = _async_stores.get(loop)
        if store is None:
            store = _async_stores[loop] = _new_async_store()
        return store


async def close_async_store() -> None:
    """Close the running loop's store, if it has one (ASGI lifespan shutdown)."""
    with _lock:
        store = _async_stores.pop(asyncio.get_running_loop(), None)
    if store is not None:
        await store.close()


def reset_stores() -> None:
    """Forget every cached store of this process so the next get_*_store() re-reads
    the settings. For tests: stores in use by other threads must be idle."""
    global _sync_store
    with _lock:
        if _sync_store is not None and _sync_pid == os.getpid():
            _sync_store.close()
        _sync_store = None
        for store in _async_stores.values():
            store.abandon()
        _async_stores.clear()
    with _prepared_lock:
        _prepared.clear()
