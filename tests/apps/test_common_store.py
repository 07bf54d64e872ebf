"""Tests of apps.common.store on SQLite: CRUD, the world table, preparation, and
concurrent writers in several threads, processes and event loops."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from apps.common import sql, store
from apps.common.validation import ItemIn

WORLD = dict(sql.world_rows())
REPO_ROOT = Path(__file__).resolve().parents[2]


def db_path(url: str) -> str:
    return sql.sqlite_path(url)


def count_rows(url: str, table: str) -> int:
    conn = sqlite3.connect(db_path(url))
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


# ---- sync --------------------------------------------------------------------------


def test_sync_crud_round_trip(db_url: str) -> None:
    s = store.get_sync_store()
    created = s.create_item(ItemIn("widget", 9.5, "blue"))
    assert created == {"id": created["id"], "name": "widget", "price": 9.5, "description": "blue"}
    assert s.get_item(created["id"]) == created
    replaced = s.replace_item(created["id"], ItemIn("gadget", 3, None))
    assert replaced == {"id": created["id"], "name": "gadget", "price": 3.0, "description": None}
    assert s.get_item(created["id"]) == replaced
    assert s.count_items() == 1
    assert s.delete_item(created["id"]) is True
    assert s.delete_item(created["id"]) is False
    assert s.get_item(created["id"]) is None
    assert s.replace_item(created["id"], ItemIn("x", 1, None)) is None
    assert s.count_items() == 0


def test_sync_list_is_ordered_and_paged(db_url: str) -> None:
    s = store.get_sync_store()
    ids = [s.create_item(ItemIn(f"n{i}", i, None))["id"] for i in range(7)]
    assert [i["id"] for i in s.list_items(100, 0)] == sorted(ids)
    assert [i["id"] for i in s.list_items(3, 2)] == sorted(ids)[2:5]
    assert s.list_items(5, 7) == []
    s.delete_item(ids[3])
    assert [i["name"] for i in s.list_items(3, 2)] == ["n2", "n4", "n5"]


def test_sync_random_world_reads_seeded_rows(db_url: str) -> None:
    s = store.get_sync_store()
    seen = [s.random_world() for _ in range(200)]
    for row in seen:
        assert set(row) == {"id", "randomNumber"}
        assert row["randomNumber"] == WORLD[row["id"]]
    assert len({row["id"] for row in seen}) > 150


def test_store_is_cached_per_process_and_reset_rereads_settings(
    db_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.get_sync_store()
    assert store.get_sync_store() is first
    first.create_item(ItemIn("in-first", 1, None))
    other = "sqlite:///" + str(tmp_path / "other.sqlite3")
    monkeypatch.setenv("DATABASE_URL", other)
    assert store.get_sync_store() is first
    store.reset_stores()
    second = store.get_sync_store()
    assert second is not first
    assert second.count_items() == 0
    assert count_rows(db_url, "items") == 1 and count_rows(other, "world") == 10_000


def test_prepare_database_is_idempotent(db_url: str) -> None:
    store.prepare_database(db_url)
    store.get_sync_store().create_item(ItemIn("kept", 1, None))
    store.prepare_database(db_url)
    store.prepare_database(db_url)
    assert count_rows(db_url, "world") == 10_000
    assert count_rows(db_url, "items") == 1
    conn = sqlite3.connect(db_path(db_url))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert dict(conn.execute("SELECT id, randomnumber FROM world").fetchall()) == WORLD
    conn.close()


def test_prepare_database_completes_a_partial_seed(db_url: str) -> None:
    store.prepare_database(db_url)
    conn = sqlite3.connect(db_path(db_url))
    conn.execute("DELETE FROM world WHERE id > 5000")
    conn.commit()
    conn.close()
    store.prepare_database(db_url)
    assert count_rows(db_url, "world") == 10_000


def _prepare_in_child(url: str, start: Any) -> None:
    start.wait()
    store.prepare_database(url)


def test_prepare_database_from_several_processes_at_once(db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_prepare_in_child, args=(db_url, start)) for _ in range(4)]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    assert count_rows(db_url, "world") == 10_000
    assert count_rows(db_url, "items") == 0


def _create_many(prefix: str, count: int) -> list[int]:
    s = store.get_sync_store()
    return [s.create_item(ItemIn(f"{prefix}-{i}", i, None))["id"] for i in range(count)]


def test_concurrent_writer_threads_lose_and_duplicate_nothing(db_url: str) -> None:
    per_thread, threads = 40, 8
    results: dict[int, list[int]] = {}
    barrier = threading.Barrier(threads)

    def work(n: int) -> None:
        barrier.wait()
        results[n] = _create_many(f"t{n}", per_thread)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    ids = [i for chunk in results.values() for i in chunk]
    assert len(ids) == per_thread * threads == len(set(ids))
    assert store.get_sync_store().count_items() == per_thread * threads
    names = {item["name"] for item in store.get_sync_store().list_items(100, 0)}
    assert len(names) == 100


def _writer_process(prefix: str, count: int, threads: int, queue: Any) -> None:
    # Forked after the parent used its store: the child must build its own.
    assert store.get_sync_store() is not None
    out: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        ids = _create_many(f"{prefix}-{n}", count)
        with lock:
            out.extend(ids)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put((os.getpid(), out))


def test_concurrent_writer_processes_lose_and_duplicate_nothing(db_url: str) -> None:
    parent = store.get_sync_store()
    parent.create_item(ItemIn("before-fork", 1, None))
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer_process, args=(f"p{n}", 25, 3, queue)) for n in range(4)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    ids = [i for _, chunk in results for i in chunk]
    assert len({pid for pid, _ in results}) == 4
    assert len(ids) == 4 * 3 * 25 == len(set(ids))
    # The parent's store (and its connection) still works after the children exit.
    assert parent.count_items() == 1 + 300
    assert store.get_sync_store() is parent


def test_fork_gives_the_child_a_new_store(db_url: str) -> None:
    parent = store.get_sync_store()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def child() -> None:
        queue.put(id(store.get_sync_store()) != id(parent) and store.get_sync_store().count_items())

    proc = ctx.Process(target=child)
    proc.start()
    result = queue.get(timeout=60)
    proc.join(timeout=30)
    assert result == 0 and proc.exitcode == 0


# ---- async -------------------------------------------------------------------------


async def _async_crud() -> dict[str, Any]:
    s = store.get_async_store()
    assert store.get_async_store() is s
    created = await s.create_item(ItemIn("async", 2, "x"))
    assert await s.get_item(created["id"]) == created
    replaced = await s.replace_item(created["id"], ItemIn("async2", 4, None))
    assert replaced == {"id": created["id"], "name": "async2", "price": 4.0, "description": None}
    assert [i["id"] for i in await s.list_items(10, 0)] == [created["id"]]
    world = await s.random_world()
    assert world["randomNumber"] == WORLD[world["id"]]
    assert await s.count_items() == 1
    assert await s.delete_item(created["id"]) is True
    assert await s.delete_item(created["id"]) is False
    assert await s.get_item(created["id"]) is None
    assert await s.replace_item(created["id"], ItemIn("x", 1, None)) is None
    await store.close_async_store()
    return created


def test_async_crud_in_successive_event_loops(db_url: str) -> None:
    first = asyncio.run(_async_crud())
    second = asyncio.run(_async_crud())
    assert second["id"] > first["id"]


def test_async_store_is_per_loop_and_survives_unclosed_loops(db_url: str) -> None:
    stores: list[store.AsyncStore] = []

    async def use() -> None:
        s = store.get_async_store()
        stores.append(s)
        await s.create_item(ItemIn("x", 1, None))

    # None of these loops closes its store: each next loop must still get a working one.
    for _ in range(3):
        asyncio.run(use())
    assert len({id(s) for s in stores}) == 3
    assert store.get_sync_store().count_items() == 3


def test_unclosed_async_store_does_not_keep_the_process_alive(db_url: str) -> None:
    code = (
        "import asyncio\n"
        "from apps.common.store import get_async_store\n"
        "async def main():\n"
        "    print((await get_async_store().count_items()), flush=True)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, b"0\n"), done.stderr


def test_async_concurrent_tasks_share_a_bounded_pool(db_url: str) -> None:
    async def main() -> list[int]:
        s = store.get_async_store()
        created = await asyncio.gather(
            *(s.create_item(ItemIn(f"task-{i}", i, None)) for i in range(120))
        )
        worlds = await asyncio.gather(*(s.random_world() for _ in range(60)))
        assert all(w["randomNumber"] == WORLD[w["id"]] for w in worlds)
        await store.close_async_store()
        return [c["id"] for c in created]

    ids = asyncio.run(main())
    assert len(ids) == 120 == len(set(ids))
    assert count_rows(db_url, "items") == 120


def test_async_pool_recovers_from_cancelled_writes(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "1")

    async def main() -> int:
        s = store.get_async_store()
        await s.count_items()
        tasks = [asyncio.create_task(s.create_item(ItemIn("c", 1, None))) for _ in range(20)]
        await asyncio.sleep(0)
        for task in tasks[::2]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # With one connection, a leaked slot or a connection stuck in a transaction would
        # make these hang or fail.
        for _ in range(5):
            await asyncio.wait_for(s.create_item(ItemIn("after", 1, None)), timeout=10)
        count = await s.count_items()
        await store.close_async_store()
        return count

    count = asyncio.run(main())
    assert 15 <= count <= 25
    assert count == count_rows(db_url, "items")


def test_async_loops_in_several_threads_at_once(db_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        async def main() -> None:
            s = store.get_async_store()
            await asyncio.gather(*(s.create_item(ItemIn("th", 1, None)) for _ in range(30)))
            await store.close_async_store()

        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    assert count_rows(db_url, "items") == 120


def test_sync_and_async_stores_see_the_same_rows(db_url: str) -> None:
    created = store.get_sync_store().create_item(ItemIn("shared", 5, None))

    async def main() -> Any:
        found = await store.get_async_store().get_item(created["id"])
        await store.close_async_store()
        return found

    assert asyncio.run(main()) == created
