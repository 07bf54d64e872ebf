"""Process settings read from the environment."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

# Request bodies larger than this are refused with 413 by every app variant.
MAX_BODY_BYTES = 65536

# The default database is a SQLite file in the platform's temporary directory
# (usually /tmp/pywebbench.sqlite3). The harness always sets DATABASE_URL
# explicitly; the default only serves ad-hoc runs such as `gunicorn apps...:app`.
DEFAULT_DATABASE_URL = "sqlite:///" + os.path.join(tempfile.gettempdir(), "pywebbench.sqlite3")
DEFAULT_UPSTREAM_URL = "http://127.0.0.1:8001"
DEFAULT_DB_POOL_SIZE = 4


@dataclass(frozen=True)
class Settings:
    """Where the apps find their database and the upstream service.

    database_url: ``sqlite:///<path>`` (``sqlite:////abs/path`` for an absolute
    path, as in SQLAlchemy) or ``postgresql://user:pass@host:port/db``.
    db_pool_size: connections per process (sync) or per event loop (async).
    """

    database_url: str
    upstream_url: str
    db_pool_size: int


def load_settings() -> Settings:
    """Read DATABASE_URL, UPSTREAM_URL and DB_POOL_SIZE from the environment."""
    raw_pool = os.environ.get("DB_POOL_SIZE", str(DEFAULT_DB_POOL_SIZE))
    try:
        pool_size = int(raw_pool)
    except ValueError:
        raise ValueError(f"DB_POOL_SIZE must be an integer, got {raw_pool!r}") from None
    if pool_size < 1:
        raise ValueError(f"DB_POOL_SIZE must be >= 1, got {pool_size}")
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    upstream_url = os.environ.get("UPSTREAM_URL") or DEFAULT_UPSTREAM_URL
    return Settings(
        database_url=database_url,
        upstream_url=upstream_url.rstrip("/"),
        db_pool_size=pool_size,
    )
