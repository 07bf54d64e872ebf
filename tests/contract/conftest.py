"""Fixtures for the contract tests: a temporary seeded SQLite database, a real upstream
server, and one in-process client per variant of apps/variants.toml."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from apps.contract.clients import client_for, run_on_shared_loop

REPO_ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_APP = "apps.upstream.app:app"
UPSTREAM_START_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def upstream_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def contract_env(tmp_path_factory: pytest.TempPathFactory, upstream_port: int) -> Iterator[str]:
    """Point the apps at a fresh seeded SQLite file and at the test upstream.

    Set before any app is imported or used; the stores and upstream clients are reset so
    that nothing cached from another test module's settings survives.
    """
    from apps.common import store, upstream

    database_url = "sqlite:///" + str(tmp_path_factory.mktemp("contract") / "contract.sqlite3")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        patch.setenv("UPSTREAM_URL", f"http://127.0.0.1:{upstream_port}")
        store.reset_stores()
        upstream.reset_clients()
        store.prepare_database(database_url)
        yield database_url
        _close_async_resources()
        store.reset_stores()
        upstream.reset_clients()


def _close_async_resources() -> None:
    # The ASGI apps opened their pools and aiohttp session on the clients' shared loop.
    from apps.common import store, upstream

    run_on_shared_loop(upstream.close_async_client())
    run_on_shared_loop(store.close_async_store())


def _wait_until_up(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + UPSTREAM_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"upstream exited with {process.returncode} before answering")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"upstream did not answer {url} within {UPSTREAM_START_TIMEOUT_S} s")


@pytest.fixture(scope="session")
def upstream_server(upstream_port: int) -> Iterator[str]:
    """A real upstream (uvicorn, own process) on 127.0.0.1; always stopped afterwards."""
    command = [
        sys.executable, "-m", "uvicorn", UPSTREAM_APP,
        "--host", "127.0.0.1", "--port", str(upstream_port),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO_ROOT)
    base = f"http://127.0.0.1:{upstream_port}"
    try:
        _wait_until_up(process, f"{base}/delay?ms=0")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def variant_client(contract_env: str) -> Iterator[Callable[[str], httpx.Client]]:
    """client(variant_id): one in-process client per variant, built on first use."""
    clients: dict[str, httpx.Client] = {}

    def get(variant_id: str) -> httpx.Client:
        if variant_id not in clients:
            clients[variant_id] = client_for(variant_id)
        return clients[variant_id]

    yield get
    for client in clients.values():
        client.close()
