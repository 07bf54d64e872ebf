"""Waitress and Apache httpd with mod_wsgi, for real: each started through the harness with
one app, the full contract over HTTP, keep-alive as servers.toml says, Waitress behind
nginx on its Unix socket, Apache's error log in the server's log, and nothing left running
(nor its private directory) after the stop."""

from __future__ import annotations

import dataclasses
import os
import pwd
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from apps.contract.checks import Severity, run_checks
from harness.core.errors import ServerStartError
from harness.core.procs import ProcessRegistry
from harness.plan.stacks import Stack, parse_stack_id
from harness.run.launch import UNPRIVILEGED_USER, free_port, poll_health, unprivileged
from harness.run.services.front import Front, start_front
from harness.run.session import Session
from harness.run.verify import (
    DEFAULT_CPUS,
    _available_cpus,
    _start_stack,
    _temporary_session,
    verify_stacks,
)
from tests.conftest import lacking, need

MOD_WSGI_EXPRESS = Path(sys.executable).parent / "mod_wsgi-express"


def need_mod_wsgi() -> None:
    """Debian's apache2 and apache2-dev, and the `apache` extra built against them."""
    need("apache2", "apxs")
    if not MOD_WSGI_EXPRESS.exists():
        lacking(f"{MOD_WSGI_EXPRESS} is missing: `make install` adds mod_wsgi once apxs is there")


def answered_on_one_connection(url: str, requests: int = 2) -> int:
    """How many GET /health of one HTTP/1.1 connection are answered before it closes."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    answered = 0
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        for _ in range(requests):
            try:
                sock.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = sock.recv(4096)
                    if not chunk:
                        return answered
                    data += chunk
            except ConnectionError:
                return answered
            head, body = data.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            assert lines[0].split()[1] == "200", lines[0]
            headers = dict(line.lower().split(": ", 1) for line in lines[1:])
            length = int(headers["content-length"])
            while len(body) < length:
                body += sock.recv(4096)
            answered += 1
            if headers.get("connection") == "close":
                return answered
    return answered


def contract_errors(front: Front) -> list[str]:
    with httpx.Client(base_url=front.running.url, timeout=30.0) as client:
        problems = run_checks(client, quick=False)
    return [f"{p.check}: {p.reason}" for p in problems if p.severity is Severity.ERROR]


def keeps_its_word(front: Front, stack: Stack) -> None:
    """The full contract holds, and keep-alive is what servers.toml says."""
    assert contract_errors(front) == []
    assert (answered_on_one_connection(front.running.url) == 2) is stack.server.keepalive


def stop(session: Session, front: Front) -> list[int]:
    """Stop the server and its private directory; the pids of its tree before the stop."""
    tree = [front.running.proc.pid]
    try:
        tree += [c.pid for c in psutil.Process(tree[0]).children(recursive=True)]
    finally:
        session.procs.stop(front.running.proc)
        front.stop_proxy(session.procs)
    return tree


def alive(pids: list[int]) -> list[int]:
    live = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                live.append(pid)
        except psutil.NoSuchProcess:
            continue
    return live


@contextmanager
def served(stack: Stack) -> Iterator[Front]:
    """The stack up as `harness verify` starts it; after the block it is stopped, with
    nothing of its process tree left and its private directory gone."""
    cpus = _available_cpus(DEFAULT_CPUS)
    with _temporary_session(stack.server.id, cpus) as session:
        front = _start_stack(session, stack, cpus)
        try:
            yield front
        finally:
            tree = stop(session, front)
        assert alive(tree) == []
        assert front.private_dir is None or not front.private_dir.exists()


def test_unprivileged_changes_nothing_but_for_root(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["/venv/bin/mod_wsgi-express", "start-server"]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert unprivileged(argv) == argv
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    prefixed = unprivileged(argv)
    assert prefixed[0].endswith("setpriv") and prefixed[-2:] == argv
    assert f"--reuid={pwd.getpwnam(UNPRIVILEGED_USER).pw_uid}" in prefixed
    assert "--ambient-caps=+dac_override" in prefixed
    monkeypatch.setattr("harness.run.launch.UNPRIVILEGED_USER", "no-such-account-pwb")
    with pytest.raises(ServerStartError, match="'no-such-account-pwb' is missing"):
        unprivileged(argv)


def test_a_missing_server_program_says_what_to_install(tmp_path: Path) -> None:
    stack = parse_stack_id("flask@apache-w1t1")
    argv = ("/nonexistent/mod_wsgi-express", *stack.server.argv[1:])
    gone = dataclasses.replace(stack, server=dataclasses.replace(stack.server, argv=argv))
    expected = r"apache: /nonexistent/mod_wsgi-express is not installed \(package mod_wsgi\)"
    with pytest.raises(ServerStartError, match=expected):
        start_front(gone, ProcessRegistry("t"), 1, cpus=[0], env={}, cell_dir=tmp_path,
                    socket_parent=tmp_path)  # fmt: skip
    assert list(tmp_path.iterdir()) == []  # its private directory is gone, nothing started


@pytest.mark.slow
def test_waitress_serves_the_contract_with_keepalive_and_stops_clean() -> None:
    stack = parse_stack_id("flask@waitress-w1t4")
    with served(stack) as front:
        keeps_its_word(front, stack)


@pytest.mark.slow
def test_waitress_behind_nginx_on_its_unix_socket() -> None:
    need("nginx")
    (verdict,) = verify_stacks([parse_stack_id("django-wsgi@waitress-w1t2+nginx")], out=print)
    assert verdict.ok, verdict.errors


@pytest.mark.slow
def test_apache_mod_wsgi_serves_the_contract_and_stops_clean() -> None:
    need_mod_wsgi()
    stack = parse_stack_id("flask@apache-w2t2")
    with served(stack) as front:
        assert front.private_dir is not None and (front.private_dir / "httpd.conf").is_file()
        children = psutil.Process(front.running.proc.pid).children(recursive=True)
        # Apache's event MPM child and the two mod_wsgi daemon processes, at least.
        assert len(children) >= 3, children
        if os.geteuid() == 0:
            uid = pwd.getpwnam(UNPRIVILEGED_USER).pw_uid
            assert {p.uids().real for p in children} == {uid}
        keeps_its_word(front, stack)


@pytest.mark.slow
def test_a_broken_app_on_apache_shows_apaches_error_log() -> None:
    need_mod_wsgi()
    cpus = _available_cpus(DEFAULT_CPUS)
    good = parse_stack_id("flask@apache-w1t1")
    broken = Stack(dataclasses.replace(good.app, app="apps.no_such_module:app"), good.server, 1, 1)
    with _temporary_session("apache-broken", cpus) as session:
        stack_dir = session.work_dir / "broken"
        stack_dir.mkdir()
        front = start_front(
            broken,
            session.procs,
            free_port(),
            cpus=cpus.server,
            env=session.env,
            cell_dir=stack_dir,
            socket_parent=session.work_dir,
        )
        try:
            with pytest.raises(ServerStartError) as excinfo:
                poll_health(front.running.url, "/health", 8.0, front.running)
        finally:
            tree = stop(session, front)
        assert alive(tree) == []
    message = str(excinfo.value)
    assert "log tail" in message and "No module named 'apps.no_such_module'" in message, message
