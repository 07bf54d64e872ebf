"""Connection handling behind apps.common.store: SQLite and PostgreSQL, sync and async.

Every backend offers ``read(sql, params)`` and ``write(sql, params)`` returning all rows
of a single statement. A write is one statement (INSERT/UPDATE/DELETE ... RETURNING):
SQLite runs it inside BEGIN IMMEDIATE ... COMMIT, PostgreSQL in autocommit mode.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast

import aiosqlite

Row = tuple[Any, ...]
Params = Sequence[Any]

BUSY_TIMEOUT_MS = 10_000


class SyncBackend(Protocol):
    def read(self, query: str, params: Params) -> list[Row]: ...
    def write(self, query: str, params: Params) -> list[Row]: ...
    def close(self) -> None: ...


class AsyncBackend(Protocol):
    async def read(self, query: str, params: Params) -> list[Row]: ...
    async def write(self, query: str, params: Params) -> list[Row]: ...
    async def close(self) -> None: ...
    def abandon(self) -> None: ...


# Per connection: wait up to 10 s for a lock instead of failing at once, and in WAL mode
# fsync only at checkpoints (durable against process crashes, which is what a
# benchmark needs; power-loss durability would measure the disk, not the stack).
_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous = NORMAL",
)


def sqlite_connect(path: str) -> sqlite3.Connection:
    """A sync SQLite connection in autocommit mode (transactions are explicit)."""
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    for pragma in _SQLITE_PRAGMAS:
        conn.execute(pragma)
    return conn


class SqliteSync:
    """One sqlite3 connection per thread (per greenlet under gevent's patching).

    Writes run inside BEGIN IMMEDIATE, which takes the database write lock up front
    (waiting up to busy_timeout), so concurrent writers in other threads and
    processes queue instead of failing midway with SQLITE_BUSY.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite_connect(self._path)
            self._local.conn = conn
        return conn

    def read(self, query: str, params: Params) -> list[Row]:
        return self._conn().execute(query, params).fetchall()

    def write(self, query: str, params: Params) -> list[Row]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(query, params).fetchall()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return rows

    def close(self) -> None:
        # Only the calling thread's connection; the others close when their thread
        # ends or this object is dropped (sqlite3 connections close on finalisation).
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _pool_args(url: str, size: int) -> dict[str, Any]:
    """psycopg pool settings for both flavours: 1..size connections, opened on first use;
    autocommit, since every statement is its own transaction, which is all we need."""
    return {
        "conninfo": url, "min_size": 1, "max_size": size, "open": False,
        "kwargs": {"autocommit": True},
    }  # fmt: skip


class PostgresSync:
    """A psycopg ConnectionPool (1..size connections), opened on first use."""

    def __init__(self, url: str, size: int) -> None:
        from psycopg_pool import ConnectionPool

        self._pool = ConnectionPool(**_pool_args(url, size))
        self._opened = False
        self._lock = threading.Lock()

    def _ready_pool(self) -> Any:
        if not self._opened:
            with self._lock:
                if not self._opened:
                    self._pool.open(wait=True, timeout=30)
                    self._opened = True
        return self._pool

    def read(self, query: str, params: Params) -> list[Row]:
        with self._ready_pool().connection() as conn:
            return conn.execute(query, params).fetchall()

    def write(self, query: str, params: Params) -> list[Row]:
        return self.read(query, params)

    def close(self) -> None:
        if self._opened:
            self._pool.close()
            self._opened = False


class SqliteAsync:
    """A pool of ``size`` aiosqlite connections for one event loop.

    The queue holds one slot per allowed connection: either an idle connection or
    None (a connection not opened yet, or one discarded after an error).
    """

    def __init__(self, path: str, size: int) -> None:
        self._path = path
        self._slots: asyncio.Queue[aiosqlite.Connection | None] = asyncio.Queue()
        for _ in range(size):
            self._slots.put_nowait(None)
        self._closed = False

    async def _open(self) -> aiosqlite.Connection:
        conn = aiosqlite.connect(self._path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        # aiosqlite runs each connection on a non-daemon thread; one left open because
        # its loop was closed without a shutdown would keep the interpreter alive.
        conn._thread.daemon = True
        await conn
        try:
            for pragma in _SQLITE_PRAGMAS:
                await conn.execute_fetchall(pragma)
        except BaseException:
            conn.stop()
            raise
        return conn

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[aiosqlite.Connection]:
        conn = await self._slots.get()
        if conn is None:
            try:
                conn = await self._open()
            except BaseException:
                self._slots.put_nowait(None)
                raise
        try:
            yield conn
        except BaseException:
            # Whatever state the connection is in (a cancelled COMMIT may still be
            # queued on its thread), closing it rolls back any open transaction.
            conn.stop()
            self._slots.put_nowait(None)
            raise
        if self._closed:
            conn.stop()
            conn = None
        self._slots.put_nowait(conn)

    async def read(self, query: str, params: Params) -> list[Row]:
        async with self._connection() as conn:
            return cast(list[Row], list(await conn.execute_fetchall(query, params)))

    async def write(self, query: str, params: Params) -> list[Row]:
        async with self._connection() as conn:
            await conn.execute_fetchall("BEGIN IMMEDIATE")
            rows = cast(list[Row], list(await conn.execute_fetchall(query, params)))
            await conn.execute_fetchall("COMMIT")
            return rows

    async def close(self) -> None:
        self._closed = True
        for conn in self._drain():
            await conn.close()

    def abandon(self) -> None:
        self._closed = True
        for conn in self._drain():
            conn.stop()

    def _drain(self) -> list[aiosqlite.Connection]:
        drained: list[aiosqlite.Connection] = []
        count = self._slots.qsize()
        for _ in range(count):
            conn = self._slots.get_nowait()
            if conn is not None:
                drained.append(conn)
            self._slots.put_nowait(None)
        return drained


class PostgresAsync:
    """A psycopg AsyncConnectionPool (1..size connections), opened on first use."""

    def __init__(self, url: str, size: int) -> None:
        from psycopg_pool import AsyncConnectionPool

        self._pool = AsyncConnectionPool(**_pool_args(url, size))
        self._opened = False
        self._lock = asyncio.Lock()

    async def _ready_pool(self) -> Any:
        if not self._opened:
            async with self._lock:
                if not self._opened:
                    await self._pool.open(wait=True, timeout=30)
                    self._opened = True
        return self._pool

    async def read(self, query: str, params: Params) -> list[Row]:
        pool = await self._ready_pool()
        async with pool.connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

    async def write(self, query: str, params: Params) -> list[Row]:
        return await self.read(query, params)

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False

    def abandon(self) -> None:
        # The pool's loop is gone: its tasks died with it and its sockets close when
        # the pool is garbage collected.
        self._opened = False
