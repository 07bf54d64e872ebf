"""In-process httpx clients for the app variants (no server, no sockets).

The checks in apps/contract/checks.py take any sync httpx.Client; these build one that
calls a WSGI or ASGI app directly, so the contract can be tested without starting servers.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

import httpx

from apps.variants import load_variants

BASE_URL = "http://testserver"
DEFAULT_TIMEOUT_S = 30.0
T = TypeVar("T")


def import_app(target: str) -> Any:
    """Import "package.module:callable" and return the callable."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"app target {target!r} is not 'module:callable'")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError as exc:
        raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from exc


def wsgi_client(app: Callable[..., Any]) -> httpx.Client:
    """A sync client that calls the WSGI app in the calling thread."""
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url=BASE_URL)


class _LoopThread:
    """One event loop running forever in a daemon thread, shared by every ASGI client.

    One loop for the whole process, because async apps keep per-loop state (connection
    pools, aiohttp sessions keyed by loop): a fresh loop per request would leak them.
    """

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="contract-asgi-loop", daemon=True
                )
                thread.start()
                cls._loop = loop
            return cls._loop


class _SyncASGITransport(httpx.BaseTransport):
    """Drives httpx.ASGITransport on the shared loop for a sync httpx.Client."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # The body is read here, in the caller's thread, because a sync request stream
        # (e.g. a generator) cannot be iterated from the loop thread.
        body = request.read()
        copy = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=body,
            extensions=request.extensions,
        )
        timeout = request.extensions.get("timeout", {}).get("read") or DEFAULT_TIMEOUT_S
        future = asyncio.run_coroutine_threadsafe(self._send(copy), _LoopThread.get())
        try:
            return future.result(timeout=timeout)
        except FutureTimeout as exc:
            future.cancel()
            raise httpx.ReadTimeout(
                f"ASGI app did not answer in {timeout} s", request=request
            ) from exc

    async def _send(self, request: httpx.Request) -> httpx.Response:
        response = await self._transport.handle_async_request(request)
        content = await response.aread()
        # stream= (not content=) so httpx adds no Content-Length the app did not send.
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(content),
            extensions=response.extensions,
        )


def run_on_shared_loop(coro: Coroutine[Any, Any, T], timeout: float = DEFAULT_TIMEOUT_S) -> T:
    """Run a coroutine on the loop the ASGI clients use (e.g. to close per-loop pools)."""
    return asyncio.run_coroutine_threadsafe(coro, _LoopThread.get()).result(timeout=timeout)


def asgi_client(app: Callable[..., Any]) -> httpx.Client:
    """A sync client that runs the ASGI app on one shared background event loop (no lifespan)."""
    return httpx.Client(transport=_SyncASGITransport(app), base_url=BASE_URL)


def client_for(variant_id: str) -> httpx.Client:
    """An in-process client for a variant of apps/variants.toml."""
    variants = load_variants()
    if variant_id not in variants:
        raise KeyError(f"unknown variant {variant_id!r}; known: {', '.join(variants)}")
    variant = variants[variant_id]
    app = import_app(variant.app)
    if variant.interface == "wsgi":
        return wsgi_client(app)
    return asgi_client(app)
