"""Fixtures for the fuzz tests, built on the contract tests' own fixtures (reused, not copied).

contract_env (a fresh seeded SQLite file, UPSTREAM_URL pointing at the test upstream) and
upstream_server (a real uvicorn upstream in its own process, always stopped) come from
tests/contract/conftest.py. Imported here they get instances of their own for this folder,
so fuzzed writes never land in the database the contract tests count items in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from apps.common import store, upstream
from apps.contract.clients import (
    client_for,
    import_app,
    load_variants,
    run_on_shared_loop,
    wsgi_client,
)
from tests.contract.conftest import contract_env, upstream_port, upstream_server

__all__ = [
    "contract_env",
    "fuzz_client",
    "hypothesis_home",
    "released_async_resources",
    "upstream_port",
    "upstream_server",
]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@pytest.fixture(scope="session", autouse=True)
def hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Hypothesis' own files in a temporary directory, not in ./.hypothesis of the repository.

    The tests use no example database (database=None), but Hypothesis still caches the
    constants it harvests from source files and its Unicode tables in its home directory.
    """
    home = tmp_path_factory.mktemp("hypothesis")
    set_hypothesis_home_dir(home)
    yield home
    set_hypothesis_home_dir(None)


def pep3333_path(app: WsgiApp) -> WsgiApp:
    """The WSGI app behind a middleware that hands it PATH_INFO the way WSGI servers do.

    httpx.WSGITransport puts the percent-decoded path in PATH_INFO as text, so a path with a
    character past U+00FF ('/items/%EF%BC%91', a full-width digit) is not the PEP 3333
    "bytes decoded as latin-1" string that gunicorn, uWSGI or wsgiref pass: Werkzeug and
    Django then fail with UnicodeEncodeError before the app runs. Re-encoding restores what a
    real server sends (httpx decoded the escapes as UTF-8; an escape that is not UTF-8, like
    %ff, already became U+FFFD there and reaches the app as that character's bytes).
    """

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["PATH_INFO"] = environ.get("PATH_INFO", "").encode("utf-8").decode("latin-1")
        return app(environ, start_response)

    return middleware


@pytest.fixture(scope="session")
def released_async_resources() -> None:
    """Close the pools and aiohttp session an earlier contract_env left on the shared loop.

    contract_env resets the stores and upstream clients without closing them (its own
    teardown closes the current ones at the end of the session): this folder's instance,
    set up after the contract tests' one, would drop their open session unclosed.
    """
    run_on_shared_loop(upstream.close_async_client())
    run_on_shared_loop(store.close_async_store())


@pytest.fixture(scope="session")
def fuzz_client(
    released_async_resources: None, contract_env: str
) -> Iterator[Callable[[str], httpx.Client]]:
    """client(variant_id): one in-process client per variant, built on first use.

    The clients of apps/contract/clients.py, except that a WSGI app gets PATH_INFO as a WSGI
    server would give it (see pep3333_path).
    """
    variants = load_variants()
    clients: dict[str, httpx.Client] = {}

    def get(variant_id: str) -> httpx.Client:
        if variant_id not in clients:
            variant = variants[variant_id]
            if variant.interface == "wsgi":
                clients[variant_id] = wsgi_client(pep3333_path(import_app(variant.app)))
            else:
                clients[variant_id] = client_for(variant_id)
        return clients[variant_id]

    yield get
    for client in clients.values():
        client.close()
