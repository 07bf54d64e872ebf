"""Pooled HTTP clients for GET /io/upstream (calls {UPSTREAM_URL}/delay?ms=N).

Why these two clients:
- sync: urllib3.PoolManager. It is the lowest-overhead pooled sync client in Python
  (requests and httpx add layers on top of the same work), it is thread-safe, and it
  only uses the stdlib socket module, so gevent's monkey-patching makes it cooperative.
- async: aiohttp.ClientSession. The fastest mature asyncio client, with a keep-alive
  connection pool. httpx is slower per request in both modes, so with it the client
  would become part of what the benchmark measures.
Both pools are large and never block a caller waiting for a free connection: the
benchmark measures the server under test, not a client-side queue.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import aiohttp
import urllib3

from apps.common.settings import load_settings

TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0
# Idle keep-alive connections kept per process (sync) or per loop (async). Above that,
# extra connections are opened and closed rather than waited for.
POOL_MAXSIZE = 1024


class UpstreamError(Exception):
    """The upstream failed, timed out or answered something other than 200 + JSON."""


def _delay_url(base: str, ms: int) -> str:
    return f"{base}/delay?ms={ms}"


def _slept_ms(payload: Any, url: str) -> int:
    value = payload.get("slept_ms") if isinstance(payload, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UpstreamError(f"{url} answered without an integer slept_ms: {payload!r:.200}")
    return value


# ---- sync --------------------------------------------------------------------------

_sync_lock = threading.Lock()
_sync_client: tuple[int, urllib3.PoolManager, str] | None = None


def _pool_manager() -> tuple[urllib3.PoolManager, str]:
    global _sync_client
    client, pid = _sync_client, os.getpid()
    if client is not None and client[0] == pid:
        return client[1], client[2]
    with _sync_lock:
        if _sync_client is None or _sync_client[0] != pid:
            # A PoolManager inherited through fork() shares sockets with the parent;
            # a child always starts its own.
            manager = urllib3.PoolManager(
                maxsize=POOL_MAXSIZE,
                block=False,
                retries=False,
                timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=TIMEOUT_S),
            )
            _sync_client = (pid, manager, load_settings().upstream_url)
        return _sync_client[1], _sync_client[2]


def fetch_delay_sync(ms: int) -> int:
    """GET {UPSTREAM_URL}/delay?ms=N; the slept_ms it reports. Raises UpstreamError."""
    manager, base = _pool_manager()
    url = _delay_url(base, ms)
    try:
        response = manager.request("GET", url)
    except urllib3.exceptions.HTTPError as exc:
        raise UpstreamError(f"GET {url} failed: {exc}") from exc
    if response.status != 200:
        raise UpstreamError(f"GET {url} answered {response.status}")
    try:
        payload = response.json()
    except ValueError as exc:
        raise UpstreamError(f"GET {url} answered invalid JSON: {exc}") from exc
    return _slept_ms(payload, url)


# ---- async -------------------------------------------------------------------------

_sessions: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, str]] = {}
_sessions_pid = 0


def _session() -> tuple[aiohttp.ClientSession, str]:
    global _sessions_pid
    loop = asyncio.get_running_loop()
    pid = os.getpid()
    entry = _sessions.get(loop)
    if entry is not None and _sessions_pid == pid and not entry[0].closed:
        return entry
    with _sync_lock:
        if _sessions_pid != pid:
            _sessions.clear()
            _sessions_pid = pid
        for old in [lp for lp in _sessions if lp.is_closed()]:
            del _sessions[old]
        connector = aiohttp.TCPConnector(limit=POOL_MAXSIZE, limit_per_host=0)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        entry = _sessions[loop] = (session, load_settings().upstream_url)
        return entry


async def fetch_delay_async(ms: int) -> int:
    """GET {UPSTREAM_URL}/delay?ms=N; the slept_ms it reports. Raises UpstreamError."""
    session, base = _session()
    url = _delay_url(base, ms)
    try:
        async with session.get(url) as response:
            if response.status != 200:
                raise UpstreamError(f"GET {url} answered {response.status}")
            payload = await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise UpstreamError(f"GET {url} failed: {exc!r}") from exc
    except ValueError as exc:
        raise UpstreamError(f"GET {url} answered invalid JSON: {exc}") from exc
    return _slept_ms(payload, url)


async def close_async_client() -> None:
    """Close the running loop's session, if any (ASGI lifespan shutdown)."""
    with _sync_lock:
        entry = _sessions.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        await entry[0].close()


def reset_clients() -> None:
    """Forget the cached clients so the next call re-reads UPSTREAM_URL (tests)."""
    global _sync_client
    with _sync_lock:
        _sync_client = None
        _sessions.clear()
