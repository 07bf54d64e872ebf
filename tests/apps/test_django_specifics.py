"""What is specific to the Django variants (the contract itself is tested in tests/contract).

Django settings can be configured once per process, and the contract tests configure
Django with their own DATABASE_URL. So this module never imports Django: it runs itself
as a script in a subprocess (with its own SQLite file) that collects facts about the
three variants as JSON, and the tests assert on those facts. Only the pure
DATABASES builder (apps.django_app.databases) is tested in-process.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.django_app.databases import ASGI_ALIAS, DEFAULT_ALIAS, django_databases

REPO_ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("django-wsgi", "django-asgi", "drf")
MAX_BODY = 65536
ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
}
PROBE_TIMEOUT_S = 180
# Query integers the contract refuses (422) and DRF's IntegerField would accept or skip.
QUERY_INTS_REFUSED = ("1.0", "+1", " 1", "1_0", "", "\u0661", "9" * 30)


# ---- the subprocess side ------------------------------------------------------------


def _settings_facts() -> dict[str, Any]:
    from django.conf import settings
    from django.db import connections

    facts: dict[str, Any] = {
        name: getattr(settings, name)
        for name in (
            "DEBUG",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "APPEND_SLASH",
            "MIDDLEWARE",
            "INSTALLED_APPS",
            "DATA_UPLOAD_MAX_MEMORY_SIZE",
        )
    }
    for alias in (DEFAULT_ALIAS, ASGI_ALIAS):
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            busy_timeout = cursor.fetchone()[0]
            cursor.execute("PRAGMA journal_mode")
            journal_mode = cursor.fetchone()[0]
        facts[alias] = {
            "conn_max_age": connection.settings_dict["CONN_MAX_AGE"],
            "transaction_mode": connection.transaction_mode,
            "busy_timeout": busy_timeout,
            "journal_mode": journal_mode,
        }
        connection.close()
    return facts


def _route_facts(entry: Any) -> dict[str, Any]:
    from asgiref.sync import iscoroutinefunction
    from django.urls import get_resolver

    facts: dict[str, Any] = {}
    for variant, handler in (
        ("django-wsgi", entry.wsgi_app),
        ("django-asgi", entry.asgi_app),
        ("drf", entry.drf_app),
    ):
        patterns = get_resolver(handler.urlconf).url_patterns
        facts[variant] = {
            "urlconf": handler.urlconf,
            "handler_class": [cls.__name__ for cls in type(handler).__mro__],
            "routes": {
                str(p.pattern): {
                    "coroutine": iscoroutinefunction(p.callback),
                    "view_class": [c.__name__ for c in getattr(p.callback, "cls", object).__mro__],
                }
                for p in patterns
            },
        }
    return facts


def _error_handler_facts(entry: Any) -> dict[str, Any]:
    from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
    from django.http import Http404
    from django.test import RequestFactory
    from django.urls import get_resolver

    request = RequestFactory().get("/anything")
    calls: dict[int, Callable[[Callable[..., Any]], Any]] = {
        400: lambda h: h(request, exception=SuspiciousOperation("bad")),
        403: lambda h: h(request, exception=PermissionError("no")),
        404: lambda h: h(request, exception=Http404("gone")),
        500: lambda h: h(request),
    }
    facts: dict[str, Any] = {}
    for urlconf in {entry.wsgi_app.urlconf, entry.asgi_app.urlconf, entry.drf_app.urlconf}:
        resolver = get_resolver(urlconf)
        answers = {}
        for status, call in calls.items():
            response = call(resolver.resolve_error_handler(status))
            answers[str(status)] = _describe(response.status_code, response, response.content)
        too_big = resolver.resolve_error_handler(400)(request, exception=RequestDataTooBig())
        answers["400-too-big"] = _describe(too_big.status_code, too_big, too_big.content)
        facts[urlconf] = answers
    return facts


def _describe(status: int, headers: Any, body: bytes) -> dict[str, Any]:
    # headers: anything with a case-insensitive .get() (Django and httpx responses).
    return {
        "status": status,
        "content_type": headers.get("Content-Type"),
        "content_length": headers.get("Content-Length"),
        "allow": headers.get("Allow"),
        "body": body.decode("utf-8", "replace"),
    }


def _padded_item(size: int) -> bytes:
    core = b'{"name":"padded","price":1}'
    return core[:-1] + b" " * (size - len(core)) + b"}"


def _answers(client: httpx.Client) -> dict[str, Any]:
    answers: dict[str, Any] = {}

    def record(label: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = client.request(method, path, **kwargs)
        answers[label] = _describe(response.status_code, response.headers, response.content)
        return response

    json_type = {"Content-Type": "application/json"}
    too_big = _padded_item(MAX_BODY + 1)
    record("unknown route", "GET", "/nope")
    record("trailing slash", "GET", "/json/")
    record("wrong method", "POST", "/json")
    record("wrong method on items", "DELETE", "/items")
    record("json", "GET", "/json")
    record("plaintext", "GET", "/plaintext")
    record("accept text/plain", "GET", "/json", headers={"Accept": "text/plain"})
    record("too big json", "POST", "/items", content=too_big, headers=json_type)
    text_type = {"Content-Type": "text/plain"}
    record("too big text", "POST", "/items", content=too_big, headers=text_type)
    record("at the limit", "POST", "/items", content=_padded_item(MAX_BODY), headers=json_type)
    latin1 = {"Content-Type": "application/json; charset=latin-1"}
    record(
        "latin-1 charset", "POST", "/items", content=b'{"name":"caf\xe9","price":1}', headers=latin1
    )
    for raw in QUERY_INTS_REFUSED:
        record(f"limit={raw!r}", "GET", "/items", params={"limit": raw})
    created = record("create", "POST", "/items", json={"name": "x", "price": 1})
    record("delete", "DELETE", f"/items/{created.json()['id']}")
    return answers


def _response_facts() -> dict[str, Any]:
    from apps.contract.clients import client_for

    facts: dict[str, Any] = {}
    for variant in VARIANTS:
        with client_for(variant) as client:
            facts[variant] = _answers(client)
    return facts


def _server_error_facts() -> dict[str, Any]:
    # A broken database (the world table dropped behind the apps' back) is the one
    # way to reach handler500 without patching the apps.
    from apps.common.sql import sqlite_path
    from apps.contract.clients import client_for

    with sqlite3.connect(sqlite_path(os.environ["DATABASE_URL"])) as conn:
        conn.execute("DROP TABLE world")
    facts = {}
    for variant in VARIANTS:
        with client_for(variant) as client:
            response = client.get("/db/query")
            facts[variant] = _describe(response.status_code, response.headers, response.content)
    return facts


async def _call_asgi(app: Any, scope: dict[str, Any], chunks: list[bytes]) -> dict[str, Any]:
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # no disconnect: the handler cancels this wait
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    headers = httpx.Headers(sent[0]["headers"])
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return _describe(sent[0]["status"], headers, body)


def _raw_asgi_facts(entry: Any) -> dict[str, Any]:
    base = {
        "type": "http",
        "http_version": "1.1",
        "scheme": "http",
        "root_path": "",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }
    # No Content-Length: the size is only known once the body has been read.
    chunked = base | {
        "method": "POST",
        "path": "/items",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }
    bad_query = base | {
        "method": "GET",
        "path": "/io/sleep",
        "query_string": b"ms=\xff",
        "headers": [],
    }
    facts: dict[str, Any] = {
        "chunked too big": asyncio.run(_call_asgi(entry.asgi_app, chunked, [b"x" * 7000] * 10)),
        "undecodable query": asyncio.run(_call_asgi(entry.asgi_app, bad_query, [b""])),
    }
    try:
        asyncio.run(_call_asgi(entry.asgi_app, {"type": "lifespan"}, []))
        facts["lifespan"] = "accepted"
    except ValueError:
        facts["lifespan"] = "refused"
    return facts


def _concurrent_write_facts() -> dict[str, Any]:
    # Writers in many threads (each with its own Django connection) contend for the
    # SQLite write lock: BEGIN IMMEDIATE + busy timeout make them queue, not fail.
    from apps.contract.clients import client_for

    clients = {variant: client_for(variant) for variant in VARIANTS}

    def write(i: int) -> tuple[int, int | None]:
        client = clients[VARIANTS[i % len(VARIANTS)]]
        response = client.post("/items", json={"name": f"w{i}", "price": i})
        item_id = response.json().get("id") if response.status_code == 201 else None
        return response.status_code, item_id

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(write, range(90)))
    for client in clients.values():
        client.close()
    return {"statuses": sorted({s for s, _ in results}), "ids": [i for _, i in results]}


def collect_facts(settings_only: bool) -> dict[str, Any]:
    """Everything the tests look at, from a fresh process configured by the environment."""
    from apps.common.store import prepare_database

    prepare_database(os.environ["DATABASE_URL"])
    from apps.django_app import entry

    if settings_only:
        return {"settings": _settings_facts()}

    facts = {
        "settings": _settings_facts(),
        "routes": _route_facts(entry),
        "error_handlers": _error_handler_facts(entry),
        "responses": _response_facts(),
        "raw_asgi": _raw_asgi_facts(entry),
        "concurrent_writes": _concurrent_write_facts(),
    }
    facts["server_errors"] = _server_error_facts()  # last: it breaks the database
    return facts


# ---- the pytest side ----------------------------------------------------------------


def run_probe(tmp_path: Path, *args: str, **env: str) -> dict[str, Any]:
    """collect_facts() in a subprocess with a fresh SQLite file and the given env."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY")
    }
    clean |= {
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": "sqlite:///" + str(tmp_path / "django.sqlite3"),
        **env,
    }
    proc = subprocess.run(
        [sys.executable, __file__, *args],
        cwd=REPO_ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_probe(tmp_path_factory.mktemp("django"))


def assert_error_shape(answer: dict[str, Any], status: int) -> None:
    assert answer["status"] == status, answer
    assert answer["content_type"].split(";")[0] == "application/json", answer
    body = json.loads(answer["body"])
    assert set(body) == {"error", "message"}, answer
    assert body["error"] == ERROR_CODES[status], answer
    assert isinstance(body["message"], str) and body["message"], answer


def test_production_settings(facts: dict[str, Any]) -> None:
    settings = facts["settings"]
    assert settings["DEBUG"] is False
    assert settings["APPEND_SLASH"] is False
    assert settings["MIDDLEWARE"] == []
    assert settings["INSTALLED_APPS"] == ["rest_framework"]
    assert {"127.0.0.1", "localhost", "testserver"} <= set(settings["ALLOWED_HOSTS"])
    assert "*" not in settings["ALLOWED_HOSTS"]
    assert settings["DATA_UPLOAD_MAX_MEMORY_SIZE"] == MAX_BODY


def test_secret_key_is_random_per_process_unless_given(
    facts: dict[str, Any], tmp_path: Path
) -> None:
    first = facts["settings"]["SECRET_KEY"]
    second = run_probe(tmp_path, "settings")["settings"]["SECRET_KEY"]
    assert len(first) >= 50 and len(second) >= 50
    assert first != second
    given = run_probe(tmp_path, "settings", DJANGO_SECRET_KEY="from-the-environment")
    assert given["settings"]["SECRET_KEY"] == "from-the-environment"


def test_sqlite_connections_queue_writers(facts: dict[str, Any]) -> None:
    for alias in (DEFAULT_ALIAS, ASGI_ALIAS):
        connection = facts["settings"][alias]
        assert connection["transaction_mode"] == "IMMEDIATE"
        assert connection["busy_timeout"] == 10_000
        assert connection["journal_mode"] == "wal"
    # Sync workers keep their connection; under ASGI every request has a new thread.
    assert facts["settings"][DEFAULT_ALIAS]["conn_max_age"] is None
    assert facts["settings"][ASGI_ALIAS]["conn_max_age"] == 0


def test_concurrent_writes_from_many_threads_all_succeed(facts: dict[str, Any]) -> None:
    writes = facts["concurrent_writes"]
    assert writes["statuses"] == [201]
    assert len(set(writes["ids"])) == len(writes["ids"]) == 90


def test_each_handler_serves_its_own_urlconf(facts: dict[str, Any]) -> None:
    routes = facts["routes"]
    assert routes["django-wsgi"]["urlconf"] == "apps.django_app.urls_sync"
    assert routes["django-asgi"]["urlconf"] == "apps.django_app.urls_async"
    assert routes["drf"]["urlconf"] == "apps.django_app.urls_drf"
    assert "WSGIHandler" in routes["django-wsgi"]["handler_class"]
    assert "ASGIHandler" in routes["django-asgi"]["handler_class"]
    assert "WSGIHandler" in routes["drf"]["handler_class"]
    expected = {"health", "json", "plaintext", "items", "items/<str:item_id_segment>"}
    expected |= {"db/query", "io/sleep", "io/upstream", "cpu", "static/<str:name>"}
    for variant in VARIANTS:
        assert set(routes[variant]["routes"]) == expected, variant


def test_django_asgi_views_are_coroutine_functions(facts: dict[str, Any]) -> None:
    for route, view in facts["routes"]["django-asgi"]["routes"].items():
        assert view["coroutine"], route
    # ...and the WSGI variants' views are plain functions (no async_to_sync hop).
    for variant in ("django-wsgi", "drf"):
        for route, view in facts["routes"][variant]["routes"].items():
            assert not view["coroutine"], (variant, route)


def test_drf_routes_are_api_views(facts: dict[str, Any]) -> None:
    for route, view in facts["routes"]["drf"]["routes"].items():
        assert "APIView" in view["view_class"], route
    # Requests really go through DRF: its APIView adds an Allow header to every answer.
    assert facts["responses"]["drf"]["json"]["allow"] == "GET, HEAD, OPTIONS"
    assert facts["responses"]["django-wsgi"]["json"]["allow"] is None


@pytest.mark.parametrize("status", ["400", "403", "404", "500"])
def test_error_handlers_answer_json_never_html(facts: dict[str, Any], status: str) -> None:
    for urlconf, answers in facts["error_handlers"].items():
        answer = answers[status]
        assert "html" not in (answer["content_type"] or ""), (urlconf, answer)
        body = json.loads(answer["body"])
        assert set(body) == {"error", "message"}, (urlconf, answer)
        if status != "403":  # the contract has no 403; its code is our own
            assert_error_shape(answer, int(status))


def test_oversized_body_is_413_not_djangos_400(facts: dict[str, Any]) -> None:
    for answers in facts["error_handlers"].values():
        assert_error_shape(answers["400-too-big"], 413)
    for variant in VARIANTS:
        answers = facts["responses"][variant]
        assert_error_shape(answers["too big json"], 413)
        # 413 comes before 415 in the contract's order of checks.
        assert_error_shape(answers["too big text"], 413)
        assert answers["at the limit"]["status"] == 201, (variant, answers["at the limit"])
    assert_error_shape(facts["raw_asgi"]["chunked too big"], 413)


@pytest.mark.parametrize("variant", VARIANTS)
def test_routing_errors_have_the_shared_shape(facts: dict[str, Any], variant: str) -> None:
    answers = facts["responses"][variant]
    assert_error_shape(answers["unknown route"], 404)
    assert_error_shape(answers["trailing slash"], 404)
    assert_error_shape(answers["wrong method"], 405)
    assert_error_shape(answers["wrong method on items"], 405)


@pytest.mark.parametrize("variant", VARIANTS)
def test_server_errors_have_the_shared_shape(facts: dict[str, Any], variant: str) -> None:
    assert_error_shape(facts["server_errors"][variant], 500)


@pytest.mark.parametrize("variant", VARIANTS)
def test_content_length_without_middleware(facts: dict[str, Any], variant: str) -> None:
    for label, answer in facts["responses"][variant].items():
        if answer["status"] == 204:
            assert answer["content_length"] is None, label
            assert answer["body"] == "" and answer["content_type"] is None, label
        else:
            assert answer["content_length"] == str(len(answer["body"].encode())), label


@pytest.mark.parametrize("variant", VARIANTS)
def test_accept_header_does_not_change_the_answer(facts: dict[str, Any], variant: str) -> None:
    # DRF would negotiate (406 for Accept: text/plain); no app of the suite does.
    answer = facts["responses"][variant]["accept text/plain"]
    assert answer["status"] == 200
    assert answer["content_type"] == "application/json"
    assert json.loads(answer["body"]) == {"message": "Hello, World!"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_bodies_are_utf8_whatever_the_charset_parameter(
    facts: dict[str, Any], variant: str
) -> None:
    # DRF's JSONParser would decode with the declared charset and accept this body.
    assert_error_shape(facts["responses"][variant]["latin-1 charset"], 400)


@pytest.mark.parametrize("variant", VARIANTS)
def test_query_ints_are_decimal_digits_only(facts: dict[str, Any], variant: str) -> None:
    # DRF's IntegerField would accept "1.0", "+1", " 1" and treat "limit=" as absent.
    answers = facts["responses"][variant]
    for raw in QUERY_INTS_REFUSED:
        assert_error_shape(answers[f"limit={raw!r}"], 422)


def test_asgi_refusals_before_the_view_have_the_shared_shape(facts: dict[str, Any]) -> None:
    # Django's ASGIHandler answers an undecodable query string with an empty 400.
    assert_error_shape(facts["raw_asgi"]["undecodable query"], 400)
    # Django refuses the lifespan scope; servers then run without lifespan events.
    assert facts["raw_asgi"]["lifespan"] == "refused"


def test_postgres_databases_use_djangos_pool() -> None:
    databases = django_databases("postgresql://bench%40x:p%3Ass@db.local:5433/bench", 7)
    for alias in (DEFAULT_ALIAS, ASGI_ALIAS):
        config = databases[alias]
        assert config["ENGINE"] == "django.db.backends.postgresql"
        assert (config["USER"], config["PASSWORD"]) == ("bench@x", "p:ss")
        assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.local", "5433", "bench")
        # Django refuses persistent connections together with its pool.
        assert config["CONN_MAX_AGE"] == 0
        assert config["OPTIONS"]["pool"]["max_size"] == 7


def test_unsupported_database_url_is_refused() -> None:
    with pytest.raises(ValueError, match="mysql"):
        django_databases("mysql://localhost/bench", 4)


if __name__ == "__main__":
    print(json.dumps(collect_facts(settings_only=sys.argv[1:] == ["settings"])))
