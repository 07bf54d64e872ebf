"""LeanClient over TLS (scenarios/locustfiles/lean.py), and its keep-alive setting, against
uvicorn serving tests/load/tls_app.py with a self-signed certificate made for the session.

The client runs in a process of its own (lean_probe.py, or Locust itself): importing
locust here would monkey-patch the test runner. Two witnesses are compared: the client's
counters (connections opened, TLS sessions resumed) and the app's (requests, distinct
client ports, requests that said "Connection: close").
"""

from __future__ import annotations

import csv
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.load.test_lean_user import HERE, REPO, Server, _free_port, _stop, locust

pytestmark = pytest.mark.slow

PROBE = HERE / "lean_probe.py"
MIX = REPO / "scenarios" / "locustfiles" / "mix.py"
KEYS = {
    "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    "rsa": ["-newkey", "rsa:2048"],
}


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Cert]:
    """Self-signed certificates for 127.0.0.1 and localhost: "ec" (P-256), "rsa" (2048
    bits), and "other", an EC one that no server uses (a CA that trusts none of them)."""
    folder = tmp_path_factory.mktemp("certs")
    made = {}
    for name, key in [*KEYS.items(), ("other", KEYS["ec"])]:
        cert = Cert(folder / f"{name}.pem", folder / f"{name}.key")
        command = ["openssl", "req", "-x509", *key, "-nodes", "-keyout", str(cert.key)]
        command += ["-out", str(cert.cert), "-days", "2", "-subj", "/CN=127.0.0.1"]
        command += ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
        subprocess.run(command, check=True, capture_output=True)
        made[name] = cert
    return made


@contextmanager
def uvicorn(cert: Cert | None, *options: str) -> Iterator[Server]:
    """tls_app on uvicorn on a free loopback port, over https with cert (else http),
    stopped on exit."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--lifespan", "off", "--log-level", "warning", *options]
    context = None
    if cert is not None:
        command += ["--ssl-certfile", str(cert.cert), "--ssl-keyfile", str(cert.key)]
        context = ssl.create_default_context(cafile=str(cert.cert))
        context.check_hostname = False
    process = subprocess.Popen(
        [*command, "tls_app:app"], cwd=REPO, start_new_session=True, stderr=subprocess.DEVNULL
    )
    scheme = "http" if cert is None else "https"
    server = Server(f"{scheme}://127.0.0.1:{port}", process, context)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                server.stats()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not start: {command}") from None
                time.sleep(0.1)
        yield server
    finally:
        _stop(process)


def probe(server: Server, requests: int, *options: str) -> dict[str, Any]:
    """lean_probe.py's account of `requests` requests (GET /json, POST /echo in turn)."""
    command = [sys.executable, str(PROBE), server.url, "--requests", str(requests), *options]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["reported"] == requests == len(result["results"])
    return result


def all_right(result: dict[str, Any]) -> bool:
    return all(r["ok"] and r["right"] and r["status"] in (200, 201) for r in result["results"])


@pytest.mark.parametrize("key", KEYS)
def test_https_keep_alive_sends_every_request_on_one_connection(
    certs: dict[str, Cert], key: str
) -> None:
    requests = 40
    with uvicorn(certs[key], "--timeout-keep-alive", "60") as server:
        result = probe(server, requests, "--ca", str(certs[key].cert))
        served = server.stats()
    assert all_right(result), result["results"]
    assert (result["connections"], result["resumed"]) == (1, 0)
    assert served == {"requests": requests, "ports": 1, "close": 0}


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_without_keepalive_every_request_gets_its_own_connection(
    certs: dict[str, Cert], scheme: str
) -> None:
    requests = 20
    cert = certs["ec"] if scheme == "https" else None
    options = ["--no-keepalive"] + (["--ca", str(cert.cert)] if cert else [])
    with uvicorn(cert, "--timeout-keep-alive", "60") as server:
        result = probe(server, requests, *options)
        served = server.stats()
    assert all_right(result), result["results"]
    # Without tls_resume every connection is a full handshake.
    assert (result["connections"], result["resumed"]) == (requests, 0)
    assert served == {"requests": requests, "ports": requests, "close": requests}


def test_tls_resume_makes_every_reconnect_an_abbreviated_handshake(
    certs: dict[str, Cert],
) -> None:
    requests = 20
    with uvicorn(certs["ec"], "--timeout-keep-alive", "60") as server:
        result = probe(
            server, requests, "--no-keepalive", "--resume", "--ca", str(certs["ec"].cert)
        )
        served = server.stats()
    assert all_right(result), result["results"]
    # The first connection has no session to offer; each later one resumes the session
    # (TLS 1.3: the ticket) kept when the one before it closed.
    assert (result["connections"], result["resumed"]) == (requests, requests - 1)
    assert served == {"requests": requests, "ports": requests, "close": requests}


def test_certificate_outside_tls_ca_is_a_reported_failure(certs: dict[str, Cert]) -> None:
    requests = 3
    with uvicorn(certs["ec"]) as server:
        result = probe(server, requests, "--ca", str(certs["other"].cert))
        served = server.stats()
    for r in result["results"]:
        assert (r["status"], r["ok"], r["error"]) == (0, False, "SSLCertVerificationError"), r
        assert "certificate verify failed" in r["message"]
    assert result["connections"] == 0
    assert served["requests"] == 0


def test_https_connection_closed_by_the_server_when_idle_is_retried(
    certs: dict[str, Cert],
) -> None:
    requests = 3
    # uvicorn closes keep-alive connections idle for 1 s; the probe waits 1.5 s in between.
    with uvicorn(certs["rsa"], "--timeout-keep-alive", "1") as server:
        result = probe(server, requests, "--pause", "1.5", "--ca", str(certs["rsa"].cert))
        served = server.stats()
    assert all_right(result), result["results"]
    assert result["connections"] == requests  # each closed connection was replaced
    assert served == {"requests": requests, "ports": requests, "close": 0}


def test_locust_run_over_https_with_pwb_tls_ca(certs: dict[str, Cert], tmp_path: Path) -> None:
    users = 2
    with uvicorn(certs["ec"], "--timeout-keep-alive", "60") as server:
        env = {"PWB_TLS_CA": str(certs["ec"].cert)}
        run = locust(server, "JsonUser", users, 3, tmp_path, env)
        served = server.stats()
    assert run.returncode == 0, run.stderr
    assert run.failures == 0 and run.counts.get("wrong", 0) == 0
    assert run.requests == run.counts["calls"] > 10 * users
    assert run.requests <= served["requests"] <= run.requests + users
    assert served["ports"] == users  # one TLS connection per user for the whole run


def run_mix(
    server: Server, tmp_path: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """mix.py (the json kind) with two users for 2 s, as the harness runs it, plus env."""
    command = [sys.executable, "-m", "locust", "-f", str(MIX), "--headless", "--host", server.url]
    command += ["--users", "2", "--spawn-rate", "2", "--run-time", "30s", "--stop-timeout", "5"]
    command += ["--exit-code-on-error", "0", "--loglevel", "WARNING", "--only-summary"]
    env = {**os.environ, "PWB_OUTPUT_DIR": str(tmp_path), "PWB_STOP_AFTER_S": "2", **env}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=90)


@pytest.mark.parametrize("client", ["lean", "fasthttp"])
def test_mix_over_https_without_keepalive(
    certs: dict[str, Cert], tmp_path: Path, client: str
) -> None:
    env = {"PWB_CLIENT": client, "PWB_TLS_CA": str(certs["rsa"].cert), "PWB_KEEPALIVE": "0"}
    with uvicorn(certs["rsa"], "--timeout-keep-alive", "60") as server:
        done = run_mix(server, tmp_path, env)
        served = server.stats()
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    rows = [row for path in tmp_path.glob("requests.*.csv") for row in csv.reader(path.open())]
    assert len(rows) > 10
    assert all(row[3] == "200" and row[4] == "1" for row in rows), rows[:5]
    # Every request said close and came on its own connection.
    assert served["close"] == served["requests"] >= len(rows)
    assert served["ports"] > served["requests"] // 2  # ports may repeat once the range wraps


def test_mix_refuses_tls_resume_with_fasthttp(certs: dict[str, Cert], tmp_path: Path) -> None:
    server = Server("https://127.0.0.1:9", None)  # type: ignore[arg-type]  # never reached
    done = run_mix(server, tmp_path, {"PWB_CLIENT": "fasthttp", "PWB_TLS_RESUME": "1"})
    assert done.returncode != 0
    assert "PWB_TLS_RESUME=1 needs PWB_CLIENT=lean" in done.stderr


def test_mix_fasthttp_trusts_only_pwb_tls_ca(certs: dict[str, Cert], tmp_path: Path) -> None:
    # FastHttpUser alone would verify nothing (insecure=True): PWB_TLS_CA must make it.
    env = {"PWB_CLIENT": "fasthttp", "PWB_TLS_CA": str(certs["other"].cert)}
    with uvicorn(certs["ec"]) as server:
        done = run_mix(server, tmp_path, env)
        served = server.stats()
    assert done.returncode == 0, done.stderr
    rows = [row for path in tmp_path.glob("requests.*.csv") for row in csv.reader(path.open())]
    assert rows and all(row[3] == "0" and row[4] == "0" for row in rows), rows[:5]
    assert served["requests"] == 0
