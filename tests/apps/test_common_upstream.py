"""Tests of apps.common.upstream against apps.upstream.app served by a real uvicorn."""

from __future__ import annotations

import asyncio
import time

import pytest

from apps.common import upstream
from apps.common.upstream import UpstreamError, fetch_delay_async, fetch_delay_sync


def test_sync_fetch_waits_and_reports(upstream_env: str) -> None:
    assert fetch_delay_sync(0) == 0
    started = time.perf_counter()
    assert fetch_delay_sync(60) == 60
    assert time.perf_counter() - started >= 0.055


def test_sync_client_is_pooled_per_process(upstream_env: str) -> None:
    fetch_delay_sync(0)
    manager = upstream._pool_manager()[0]
    for _ in range(5):
        fetch_delay_sync(0)
    assert upstream._pool_manager()[0] is manager
    # One keep-alive connection served all six sequential requests.
    assert manager.connection_from_url(upstream_env).num_connections == 1


def test_sync_fetch_from_threads(upstream_env: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=16) as pool:
        started = time.perf_counter()
        results = list(pool.map(fetch_delay_sync, [50] * 32))
    assert results == [50] * 32
    # 32 requests of 50 ms over 16 threads: about two rounds, not 32 in a row.
    assert time.perf_counter() - started < 1.2


def test_sync_non_200_is_an_upstream_error(upstream_env: str) -> None:
    with pytest.raises(UpstreamError, match="422"):
        fetch_delay_sync(99_999)


def test_sync_unreachable_upstream_is_an_upstream_error(
    monkeypatch: pytest.MonkeyPatch, unused_url: str
) -> None:
    monkeypatch.setenv("UPSTREAM_URL", unused_url)
    upstream.reset_clients()
    try:
        with pytest.raises(UpstreamError, match="failed"):
            fetch_delay_sync(0)
    finally:
        upstream.reset_clients()


def test_async_fetch_concurrently_in_successive_loops(upstream_env: str) -> None:
    async def main() -> tuple[list[int], float]:
        started = time.perf_counter()
        results = await asyncio.gather(*(fetch_delay_async(80) for _ in range(50)))
        elapsed = time.perf_counter() - started
        await upstream.close_async_client()
        return list(results), elapsed

    for _ in range(2):
        results, elapsed = asyncio.run(main())
        assert results == [80] * 50
        assert 0.075 <= elapsed < 1.5


def test_async_session_survives_an_unclosed_loop(upstream_env: str) -> None:
    async def main() -> int:
        return await fetch_delay_async(1)

    assert asyncio.run(main()) == 1
    assert asyncio.run(main()) == 1


def test_async_errors_are_upstream_errors(
    upstream_env: str, monkeypatch: pytest.MonkeyPatch, unused_url: str
) -> None:
    async def fetch(ms: int) -> int:
        try:
            return await fetch_delay_async(ms)
        finally:
            await upstream.close_async_client()

    with pytest.raises(UpstreamError, match="422"):
        asyncio.run(fetch(99_999))
    monkeypatch.setenv("UPSTREAM_URL", unused_url)
    upstream.reset_clients()
    with pytest.raises(UpstreamError, match="failed"):
        asyncio.run(fetch(0))
