"""TLS at the front, for real: the run's self-signed certificate (ECDSA P-256 or RSA 2048,
made with openssl), every server that takes a certificate and nginx in front of a plain
server answering the full contract over HTTPS, and clients that do not trust the run's
certificate refused."""

from __future__ import annotations

import csv
import hashlib
import json
import socket
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from harness.plan.services import ServicesSpec, load_env
from harness.plan.stacks import parse_stack_id
from harness.run.services.tls import TlsError, client_context, make_certificate
from harness.run.verify import (
    DEFAULT_CPUS,
    _available_cpus,
    _start_stack,
    _temporary_session,
    verify_stacks,
)
from tests.conftest import need, run_harness

# One stack per server entry with tls_args, and nginx terminating TLS before two kinds of
# upstream: HTTP on a Unix socket, and uWSGI's own protocol (also without TLS: the uwsgi
# protocol path answering the whole contract).
SERVER_TLS = [
    "flask@gunicorn-sync-w1+tls",
    "django-wsgi@gunicorn-gthread-w1t2+tls",
    "flask@gunicorn-gevent-w1+tls",
    "fastapi-async@gunicorn-uvicorn-w1+tls",
    "fastapi-async@uvicorn-w1+tls",
    "fastapi-sync@hypercorn-w1+tls",
    "flask@granian-wsgi-w1t2+tls",
    "fastapi-async@granian-asgi-w1+tls",
]
NGINX = ["flask@gunicorn-sync-w1+nginx+tls", "flask@uwsgi-w1+nginx+tls", "flask@uwsgi-w1+nginx"]


def x509_text(cert: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "public_key"),
    [("ecdsa-p256", "prime256v1"), ("rsa-2048", "Public-Key: (2048 bit)")],
)
def test_the_runs_certificate_is_self_signed_of_the_kind_asked(
    tmp_path: Path, kind: str, public_key: str
) -> None:
    need("openssl")
    files = make_certificate(tmp_path / "tls", kind)
    text = x509_text(files.cert)
    assert public_key in text
    assert "IP Address:127.0.0.1" in text and "DNS:localhost" in text
    assert "BEGIN PRIVATE KEY" in files.key.read_text()  # PKCS#8, which Granian needs
    described = files.describe()
    der = ssl.PEM_cert_to_DER_cert(files.cert.read_text())
    assert described["sha256"] == hashlib.sha256(der).hexdigest()
    assert described["key"] == kind and described["openssl"].startswith("OpenSSL")


def test_an_unknown_key_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TlsError, match="unknown TLS key kind 'dsa'"):
        make_certificate(tmp_path, "dsa")


def test_the_load_is_told_what_to_trust_only_when_there_is_tls() -> None:
    assert load_env(ServicesSpec(), None) == {"PWB_KEEPALIVE": "1"}
    spec = ServicesSpec(client_keepalive=False, tls_resumption=True)
    assert load_env(spec, "/run/cert.pem") == {
        "PWB_KEEPALIVE": "0", "PWB_TLS_CA": "/run/cert.pem", "PWB_TLS_RESUME": "1",
    }  # fmt: skip


@pytest.mark.slow
def test_every_server_that_takes_a_certificate_serves_the_contract_over_https() -> None:
    need("openssl")
    stacks = [parse_stack_id(s) for s in SERVER_TLS]
    verdicts = verify_stacks(stacks, out=print)
    assert [(v.stack_id, v.errors) for v in verdicts if not v.ok] == []
    assert len(verdicts) == len(SERVER_TLS)


@pytest.mark.slow
def test_nginx_terminates_tls_before_http_and_uwsgi_upstreams() -> None:
    need("openssl", "nginx")
    verdicts = verify_stacks([parse_stack_id(s) for s in NGINX], out=print)
    assert [(v.stack_id, v.errors) for v in verdicts if not v.ok] == []


@pytest.mark.slow
@pytest.mark.parametrize("stack_id", ["fastapi-async@uvicorn-w1+tls", "flask@uwsgi-w1+nginx+tls"])
def test_it_is_real_tls_with_the_runs_certificate(stack_id: str) -> None:
    need("openssl", *(["nginx"] if "+nginx" in stack_id else []))
    stack = parse_stack_id(stack_id)
    cpus = _available_cpus(DEFAULT_CPUS)
    with _temporary_session("tls", cpus, tls=True) as session:
        assert session.tls is not None
        front = _start_stack(session, stack, cpus)
        try:
            url = front.running.url
            assert url.startswith("https://")
            host, port = url.removeprefix("https://").rsplit(":", 1)
            # The certificate served is the run's own.
            context = client_context(session.tls.cert)
            with (
                socket.create_connection((host, int(port)), timeout=5) as raw,
                context.wrap_socket(raw) as tls_sock,
            ):
                der = tls_sock.getpeercert(binary_form=True)
                assert der is not None
                assert hashlib.sha256(der).hexdigest() == session.tls.describe()["sha256"]
                assert tls_sock.version() in ("TLSv1.2", "TLSv1.3")
            # A client trusting only the system's authorities refuses it.
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                httpx.get(url + "/health", timeout=5)
            # Plain HTTP to the TLS port gets no HTTP answer.
            with pytest.raises(httpx.HTTPError):
                r = httpx.get(url.replace("https://", "http://") + "/health", timeout=5)
                r.raise_for_status()
            trusted = httpx.get(url + "/health", timeout=5, verify=context)
            assert trusted.status_code == 200
        finally:
            session.procs.stop(front.running.proc)
            front.stop_proxy(session.procs)


HTTPS_RUN = """
name = "tls-run"
client_keepalive = {keepalive}
tls_resumption = true
tls_key = "rsa-2048"
[load]
warmup_s = 0.5
measure_s = 1.5
users = [4]
rounds = 1
spawn_margin_s = 8
stop_timeout_s = 1
crosscheck = "wrk"
[cpus]
server = [1]
load = [0]
[[stacks]]
{stack}
tls = true
[mixes.json]
json = 1
"""
# TLS terminated by the server itself with keep-alive, and by nginx with a connection per
# request (a handshake each, resumed).
RUN_SERVER_TLS = (
    "true",
    'apps = ["fastapi-async"]\nservers = ["uvicorn"]',
    "fastapi-async@uvicorn-w1+tls",
)
RUN_NGINX_TLS = (
    "false",
    'apps = ["flask"]\nservers = ["gunicorn-gthread"]\nthreads = [4]\nproxy = "nginx"',
    "flask@gunicorn-gthread-w1t4+nginx+tls",
)


@pytest.mark.slow
@pytest.mark.cpus
@pytest.mark.parametrize(("keepalive", "stack", "stack_id"), [RUN_SERVER_TLS, RUN_NGINX_TLS])
def test_a_run_over_https_loads_and_cross_checks_a_tls_stack(
    tmp_path: Path, keepalive: str, stack: str, stack_id: str
) -> None:
    need("openssl", "nginx", "wrk")
    scenario = tmp_path / "s.toml"
    scenario.write_text(HTTPS_RUN.format(keepalive=keepalive, stack=stack))
    results = tmp_path / "results"
    done = run_harness("run", str(scenario), "--results-dir", str(results), timeout=240)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    with (run_dir / "cells.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["cold"] != "true"]
    assert {r["stack"] for r in rows} == {stack_id}
    for row in rows:
        assert row["status"] == "ok" and int(row["requests"]) > 0, row
        assert float(row["error_rate"]) == 0, row
        assert row["keepalive"] == keepalive
        assert float(row["rps_wrk"]) > 0, row
        info = json.loads((run_dir / "raw" / row["cell"] / "cell.json").read_text())
        assert info["crosscheck"]["argv"][-1].startswith("https://127.")
        assert ("Connection: close" in info["crosscheck"]["argv"]) is (keepalive == "false")
        assert info["crosscheck"]["non_2xx"] == 0 and info["crosscheck"]["socket_errors"] == 0
    metadata = json.loads((run_dir / "metadata.json").read_text())
    tls = metadata["services"]["tls"]
    assert (tls["key"], metadata["services"]["tls_resumption"]) == ("rsa-2048", True)
    der = ssl.PEM_cert_to_DER_cert((run_dir / "tls-cert.pem").read_text())
    assert tls["sha256"] == hashlib.sha256(der).hexdigest()
    assert not list(run_dir.rglob("key.pem"))  # the private key never enters the results
