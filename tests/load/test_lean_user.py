"""LeanHttpUser (scenarios/locustfiles/lean.py) under real Locust against real gunicorn servers.

Locust runs as a subprocess (importing it here would monkey-patch the test runner) with the
users of tests/load/lean_locustfile.py. Three witnesses are compared: Locust's own totals
(--json-file), the calls the tasks saw return, and the counters of the app (lean_app.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LOCUSTFILE = HERE / "lean_locustfile.py"


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen[bytes]
    context: ssl.SSLContext | None = None  # https: what trusts the server's certificate

    def stats(self) -> dict[str, int]:
        url = f"{self.url}/stats"
        with urllib.request.urlopen(url, timeout=5, context=self.context) as response:
            result: dict[str, int] = json.load(response)
        return result


@dataclass(frozen=True)
class LocustRun:
    returncode: int
    entries: dict[str, dict[str, Any]]  # Locust's stats by request name
    counts: dict[str, int]  # what the tasks and the error listener counted
    stderr: str

    @property
    def requests(self) -> int:
        return sum(entry["num_requests"] for entry in self.entries.values())

    @property
    def failures(self) -> int:
        return sum(entry["num_failures"] for entry in self.entries.values())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=10)


@contextmanager
def gunicorn(worker: str, *options: str) -> Iterator[Server]:
    """lean_app on gunicorn (one worker) on a free loopback port, stopped on exit."""
    port = _free_port()
    command = [sys.executable, "-m", "gunicorn", "--pythonpath", str(HERE), "-w", "1", "-k"]
    command += [worker, "--graceful-timeout", "1", "-b", f"127.0.0.1:{port}", *options]
    process = subprocess.Popen(
        [*command, "lean_app:app"], cwd=REPO, start_new_session=True, stderr=subprocess.DEVNULL
    )
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                server.stats()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {command}") from None
                time.sleep(0.1)
        yield server
    finally:
        _stop(process)


def run_locust(
    server: Server,
    user_class: str,
    users: int,
    seconds: int,
    tmp_path: Path,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a headless Locust run of one user class of lean_locustfile.py (env: more
    variables for it)."""
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    command += ["-u", str(users), "-r", "100", "--run-time", f"{seconds}s", "--host", server.url]
    # Users finish the request in flight at the end: one killed mid-request would be
    # reported as cut off (scenarios/locustfiles/_cutoff.py), which these tests do not count.
    command += ["--stop-timeout", "10"]
    command += ["--json-file", str(tmp_path / "stats"), "--only-summary", "--loglevel", "WARNING"]
    env = {**os.environ, **(env or {}), "LEAN_TEST_OUT": str(tmp_path / "counts.json")}
    return subprocess.Popen(
        [*command, user_class],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish(process: subprocess.Popen[bytes], seconds: int, tmp_path: Path) -> LocustRun:
    """Wait for a Locust run to end by itself (a hang is a test failure) and read its output."""
    try:
        _, stderr = process.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        _stop(process, signal.SIGKILL)
        pytest.fail(f"locust did not stop within {seconds + 30} s of a {seconds} s run")
    finally:
        _stop(process)
    entries = json.loads((tmp_path / "stats.json").read_text())
    counts = json.loads((tmp_path / "counts.json").read_text())
    run = LocustRun(process.returncode, {e["name"]: e for e in entries}, counts, stderr.decode())
    assert "Traceback" not in run.stderr, run.stderr
    return run


def locust(
    server: Server,
    user_class: str,
    users: int,
    seconds: int,
    tmp_path: Path,
    env: dict[str, str] | None = None,
) -> LocustRun:
    process = run_locust(server, user_class, users, seconds, tmp_path, env)
    return finish(process, seconds, tmp_path)


def test_keep_alive_connections_are_reused_and_counts_agree(tmp_path: Path) -> None:
    users = 4
    with gunicorn("gthread", "--threads", "4", "--keep-alive", "60") as server:
        run = locust(server, "JsonUser", users, 3, tmp_path)
        served = server.stats()
    assert run.returncode == 0, run.stderr
    assert run.failures == 0 and run.counts.get("wrong", 0) == 0
    assert run.requests == run.counts["calls"] > 20 * users
    # Users stopped mid-request may have been answered without reporting it.
    assert run.requests <= served["requests"] <= run.requests + users
    assert served["ports"] == users  # one connection per user for the whole run


def test_connection_close_server_gets_a_new_connection_per_request(tmp_path: Path) -> None:
    users = 4
    with gunicorn("sync") as server:  # the sync worker answers with Connection: close
        run = locust(server, "JsonUser", users, 3, tmp_path)
        served = server.stats()
    assert run.returncode == 0, run.stderr
    assert run.failures == 0 and run.counts.get("wrong", 0) == 0
    assert run.requests == run.counts["calls"] > 20 * users
    assert run.requests <= served["requests"] <= run.requests + users
    # Client ports may repeat once the range wraps; far more ports than users is the point.
    assert served["ports"] > served["requests"] // 2


def test_chunked_responses_are_read_whole(tmp_path: Path) -> None:
    with gunicorn("gthread", "--threads", "2") as server:
        run = locust(server, "ChunkedUser", 2, 2, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.failures == 0 and run.counts.get("wrong", 0) == 0
    assert run.requests == run.counts["calls"] > 0


def test_expected_statuses_are_not_failures(tmp_path: Path) -> None:
    with gunicorn("gthread", "--threads", "2") as server:
        run = locust(server, "StatusUser", 2, 2, tmp_path)
    assert run.returncode == 1  # Locust's exit code when requests failed
    failed = {name: entry["num_failures"] for name, entry in run.entries.items()}
    unexpected = run.entries["unexpected 404"]["num_requests"]
    rejected = run.entries["rejected 200"]["num_requests"]
    assert failed == {
        "expected 404": 0,
        "caught 404": 0,
        "echo": 0,
        "unexpected 404": unexpected,
        "rejected 200": rejected,
    }
    assert unexpected > 0 and rejected > 0
    assert run.counts.get("wrong", 0) == 0
    assert run.counts["error HttpStatusError"] == unexpected
    assert run.counts["error CatchResponseError"] == rejected


def test_idle_connection_closed_by_the_server_is_retried_once(tmp_path: Path) -> None:
    users = 2
    # gthread closes keep-alive connections idle for 1 s; the users wait 1.5 s between calls.
    with gunicorn("gthread", "--threads", "2", "--keep-alive", "1") as server:
        run = locust(server, "IdleUser", users, 5, tmp_path)
        served = server.stats()
    assert run.returncode == 0, run.stderr
    assert run.failures == 0 and run.counts.get("wrong", 0) == 0
    assert run.requests == run.counts["calls"] >= 2 * users
    assert run.requests <= served["requests"] <= run.requests + users
    assert served["ports"] > users  # connections were closed and replaced


def test_read_timeout_is_a_failure(tmp_path: Path) -> None:
    with gunicorn("gthread", "--threads", "4") as server:
        run = locust(server, "StallUser", 2, 2, tmp_path)
    assert run.returncode == 1
    # A user stopped while waiting on a stalled answer reports that request as cut off.
    cut = run.counts.get("error RequestCutOffError", 0)
    assert cut <= 2
    assert run.failures == run.requests == run.counts["calls"] + cut > 0
    assert run.counts["error TimeoutError"] == run.failures - cut


def test_server_killed_mid_run_gives_failures_not_a_hang(tmp_path: Path) -> None:
    seconds = 8
    with gunicorn("gthread", "--threads", "4", "--keep-alive", "60") as server:
        process = run_locust(server, "JsonUser", 4, seconds, tmp_path)
        deadline = time.monotonic() + 30
        while (served := server.stats()["requests"]) < 100:
            assert time.monotonic() < deadline, f"only {served} requests served in 30 s"
            time.sleep(0.05)
        _stop(server.process, signal.SIGKILL)
        run = finish(process, seconds, tmp_path)
    assert run.returncode == 1
    assert 0 < run.failures < run.requests
    refused = run.counts.get("error ConnectionRefusedError", 0)
    assert refused > 0
    assert run.counts["calls"] == run.requests
