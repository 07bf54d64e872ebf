"""harness.plan.stacks: ids, command lines, and invalid combinations refused with a reason."""

from __future__ import annotations

import sys

import pytest

from harness.core.errors import StackError
from harness.plan.stacks import all_combinations, default_verify_stacks, make_stack, parse_stack_id


@pytest.mark.parametrize(
    ("stack_id", "reason"),
    [
        ("fastapi-async@gunicorn-sync", "is an ASGI app and gunicorn-sync serves only WSGI"),
        ("flask@uvicorn", "is a WSGI app and uvicorn serves only ASGI"),
        ("flask@gunicorn-sync-w1t4", "has no threads setting, got threads=4"),
        ("flask@wsgiref-w2", "wsgiref runs at most 1 worker(s), got 2"),
        ("flask@gunicorn-sync-w0", "workers must be >= 1"),
        ("flask@uwsgi-w1+tls", "uwsgi has no tls_args in servers.toml, so it cannot terminate"),
        ("flask@waitress+tls", "waitress has no tls_args"),
        ("flask@gunicorn-sync+limit500", "unknown proxy 'limit500'"),
        ("flask@gunicorn-sync+nginx-limit0", "expected a rate >= 1 request/s"),
        ("flask@gunicorn-sync+apache-limit5", "unknown proxy 'apache-limit5'"),
    ],
)
def test_invalid_stacks_are_refused_with_reason(stack_id: str, reason: str) -> None:
    with pytest.raises(StackError, match="invalid stack") as excinfo:
        parse_stack_id(stack_id)
    assert reason in str(excinfo.value)


@pytest.mark.parametrize(
    "text",
    ["flask", "flask@", "@uvicorn", "flask@gunicorn-sync-wx", "flask@gunicorn-sync+tls+nginx",
     "flask@gunicorn-sync+tls+tls"],
)  # fmt: skip
def test_malformed_ids_are_refused(text: str) -> None:
    with pytest.raises(StackError):
        parse_stack_id(text)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(StackError, match=r"unknown server 'gunicron' \(known: gunicorn-sync"):
        parse_stack_id("flask@gunicron")
    with pytest.raises(StackError, match="unknown app variant 'flsk'"):
        parse_stack_id("flsk@uvicorn")


@pytest.mark.parametrize(
    "stack_id",
    [
        "flask@gunicorn-gthread-w2t4", "fastapi-async@uvicorn-w2", "flask@uwsgi-w2t1",
        "fastapi-async@uvicorn-w2+tls", "flask@uwsgi-w2t1+nginx+tls",
        "django-wsgi@gunicorn-sync-w1p4+nginx-app-static+tls",
        "flask@gunicorn-sync-w1+nginx-limit500", "flask@uwsgi-w2t1+nginx-app-static-limit20+tls",
    ],
)  # fmt: skip
def test_ids_round_trip(stack_id: str) -> None:
    assert parse_stack_id(stack_id).id == stack_id


def test_defaults_one_worker_and_default_threads() -> None:
    stack = parse_stack_id("flask@gunicorn-gthread")
    assert (stack.workers, stack.threads) == (1, stack.server.default_threads)
    assert parse_stack_id("raw-asgi@uvicorn").id == "raw-asgi@uvicorn-w1"


def test_argv_fills_every_placeholder() -> None:
    argv = make_stack("flask", "gunicorn-gthread", 2, 8).argv("127.0.0.1", 8123)
    assert argv[0] == sys.executable
    assert "apps.flask_app.app:app" in argv
    assert argv[argv.index("--threads") + 1] == "8"
    assert argv[argv.index("--workers") + 1] == "2"
    assert "127.0.0.1:8123" in argv
    assert not any("{" in a for a in argv)
    uwsgi = make_stack("flask", "uwsgi", 1, 2).argv("127.0.0.1", 9)
    assert "apps.flask_app.app:app" in uwsgi and uwsgi[0].endswith("/uwsgi")


def test_argv_with_a_private_temporary_directory() -> None:
    apache = make_stack("django-wsgi", "apache", 2, 3)
    with pytest.raises(StackError, match="apache's command line needs a temporary directory"):
        apache.argv("127.0.0.1", 9)
    argv = apache.argv("127.0.0.1", 9, tmpdir="/tmp/pwb-sock-x")
    assert argv[argv.index("--server-root") + 1] == "/tmp/pwb-sock-x"
    assert argv[argv.index("--processes") + 1] == "2" and argv[argv.index("--threads") + 1] == "3"
    assert argv[argv.index("--callable-object") + 1] == "wsgi_app"
    assert "apps.django_app.entry" in argv and not any("{" in a for a in argv)
    # A server without {tmpdir} ignores one.
    assert make_stack("flask", "waitress").argv("127.0.0.1", 9, tmpdir="/t") == make_stack(
        "flask", "waitress"
    ).argv("127.0.0.1", 9)


def test_combinations_cover_every_pair_with_reasons() -> None:
    rows = all_combinations()
    by_pair = {(r.app, r.server): r for r in rows}
    assert by_pair[("flask", "uvicorn")].reason
    assert not by_pair[("flask", "gunicorn-sync")].reason
    assert by_pair[("flask", "gunicorn-sync")].stack_id == "flask@gunicorn-sync-w1"
    assert all(bool(r.stack_id) != bool(r.reason) for r in rows)
    assert len(default_verify_stacks()) == sum(1 for r in rows if not r.reason)


def test_tls_is_at_the_front_nginx_when_proxied_else_the_server() -> None:
    server_tls = parse_stack_id("fastapi-async@uvicorn-w1+tls")
    nginx_tls = parse_stack_id("flask@uwsgi-w1+nginx+tls")
    assert (server_tls.tls, server_tls.server_tls, server_tls.describe()["tls"]) == (
        True, True, "server",
    )  # fmt: skip
    assert (nginx_tls.tls, nginx_tls.server_tls, nginx_tls.describe()["tls"]) == (
        True, False, "nginx",
    )  # fmt: skip
    assert parse_stack_id("flask@uwsgi-w1+nginx").describe()["tls"] is None


def test_a_server_terminating_tls_gets_the_certificate_and_key() -> None:
    plain = make_stack("fastapi-async", "uvicorn", 1).argv("127.0.0.1", 9)
    stack = make_stack("fastapi-async", "uvicorn", 1, tls=True)
    with pytest.raises(StackError, match="terminates TLS: its server needs a certificate"):
        stack.argv("127.0.0.1", 9)
    argv = stack.argv("127.0.0.1", 9, tls=("/c.pem", "/k.pem"))
    assert argv[: len(plain)] == plain
    assert argv[len(plain) :] == ["--ssl-certfile", "/c.pem", "--ssl-keyfile", "/k.pem"]
    gunicorn = make_stack("flask", "gunicorn-sync", 1, tls=True).argv("h", 1, tls=("/c", "/k"))
    assert gunicorn[-4:] == ["--certfile", "/c", "--keyfile", "/k"]
    # Behind nginx the server speaks plain HTTP on its socket: nginx holds the certificate.
    proxied = make_stack("flask", "gunicorn-sync", 1, proxy="nginx", tls=True)
    socket_argv = proxied.argv("h", 1, socket="/s.sock", tls=("/c", "/k"))
    assert "--certfile" not in socket_argv and "unix:/s.sock" in socket_argv


def test_a_rate_limit_is_an_option_of_the_proxy() -> None:
    limited = parse_stack_id("flask@gunicorn-sync-w1+nginx-limit500")
    assert (limited.proxy, limited.limit_rps, limited.tls) == ("nginx-limit500", 500, False)
    assert limited.proxy_options is not None and limited.proxy_options.name == "nginx"
    assert limited.describe()["limit_rps"] == 500
    assert parse_stack_id("flask@gunicorn-sync-w1+nginx").describe()["limit_rps"] is None
    static = parse_stack_id("flask@uwsgi-w1+nginx-app-static-limit20+tls")
    assert (static.limit_rps, static.tls, static.proxy_serves_static) == (20, True, False)
    assert make_stack("flask", "uwsgi", proxy="nginx-limit7").id == (
        "flask@uwsgi-w1t1+nginx-limit7"
    )
