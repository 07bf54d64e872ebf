"""Fixtures for the apps/common tests: a temporary SQLite database and a real upstream."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.common import store, upstream

REPO_ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_START_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unused_url() -> str:
    """An http:// URL on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL of a fresh SQLite file; stores are reset before and after."""
    url = "sqlite:///" + str(tmp_path / "test.sqlite3")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DB_POOL_SIZE", "4")
    store.reset_stores()
    yield url
    store.reset_stores()


def _wait_until_healthy(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + UPSTREAM_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"upstream server exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"upstream server at {url} not healthy after {UPSTREAM_START_TIMEOUT_S}s")


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    """Base URL of apps.upstream.app served by uvicorn in a subprocess (always stopped)."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "apps.upstream.app:app",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(proc, url)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def upstream_env(upstream_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """UPSTREAM_URL pointed at the test upstream; cached clients reset around the test."""
    monkeypatch.setenv("UPSTREAM_URL", upstream_url)
    upstream.reset_clients()
    yield upstream_url
    upstream.reset_clients()
