"""DATABASES for settings.py, built from the suite's DATABASE_URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from apps.common.db import BUSY_TIMEOUT_MS
from apps.common.sql import POSTGRES, SQLITE, dialect_of, sqlite_path

# The sync views (django-wsgi, drf) use "default"; the async views of django-asgi use
# ASGI_ALIAS. Same database, different connection lifetimes (see django_databases).
DEFAULT_ALIAS = "default"
ASGI_ALIAS = "asgi"


def _sqlite(url: str, conn_max_age: int | None) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": sqlite_path(url),
        "CONN_MAX_AGE": conn_max_age,
        "OPTIONS": {
            # The same per-connection setup as apps.common.db: wait for locks instead
            # of failing, and fsync only at WAL checkpoints. WAL itself is a property
            # of the file, set once by prepare_database.
            "timeout": BUSY_TIMEOUT_MS / 1000,
            "init_command": "PRAGMA synchronous = NORMAL",
            # atomic() then opens BEGIN IMMEDIATE: writers queue on the write lock up
            # front instead of failing with SQLITE_BUSY when upgrading a read lock.
            "transaction_mode": "IMMEDIATE",
        },
    }


def _postgres(url: str, pool_size: int) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        # Django's own psycopg 3 pool (new in 5.1) requires CONN_MAX_AGE = 0: a
        # connection goes back to the pool at the end of every request.
        "CONN_MAX_AGE": 0,
        "OPTIONS": {
            **dict(parse_qsl(parts.query)),
            "pool": {"min_size": 1, "max_size": pool_size, "timeout": 30},
        },
    }


def django_databases(url: str, pool_size: int) -> dict[str, dict[str, Any]]:
    """DATABASES with DEFAULT_ALIAS and ASGI_ALIAS, both pointing at ``url``.

    SQLite: the sync alias keeps one connection per worker thread for good
    (CONN_MAX_AGE None), like apps.common's per-thread connections. The ASGI alias
    closes its connection after every request (CONN_MAX_AGE 0), as Django's docs ask
    for ASGI: Django runs each request's sync code (the DB calls) in a fresh thread,
    so a persistent per-thread connection would be orphaned by every request.
    PostgreSQL: both aliases use Django's connection pool instead.
    """
    dialect = dialect_of(url)
    if dialect == SQLITE:
        return {DEFAULT_ALIAS: _sqlite(url, None), ASGI_ALIAS: _sqlite(url, 0)}
    if dialect == POSTGRES:
        return {DEFAULT_ALIAS: _postgres(url, pool_size), ASGI_ALIAS: _postgres(url, pool_size)}
    raise ValueError(f"no Django database backend for dialect {dialect!r} of {url!r}")
