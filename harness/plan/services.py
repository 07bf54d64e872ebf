"""The scenario keys for services: which database, pgbouncer, the proxy's client keep-alive,
the clients' own keep-alive and TLS.

Top-level scenario keys (all optional; the default is the per-run SQLite file):
    db = "sqlite" | "postgres" | "url"
    db_url = "postgresql://..."     # with db = "url"; else the environment's DATABASE_URL
    db_pool_size = 4                # DB_POOL_SIZE: connections per worker process
    pgbouncer = false               # with db = "postgres": pgbouncer between apps and postgres
    pgbouncer_pool_size = 100       # server connections per database/user pair
    pgbouncer_pool_mode = "session" # or "transaction" (needs pgbouncer >= 1.21, see README)
    proxy_client_keepalive = true   # false: nginx closes every client connection (ab without -k)
    client_keepalive = true         # false: the load sends "Connection: close" on every request
                                    # and connects anew each time (lean client)
    tls_key = "ecdsa-p256"          # the run's certificate (+tls stacks): or "rsa-2048"
    tls_resumption = false          # true: a reconnecting client resumes its TLS session
                                    # (an abbreviated handshake); false: full handshakes
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.plan.stacks import Stack, parse_proxy

DB_KINDS = ("sqlite", "postgres", "url")
POOL_MODES = ("session", "transaction")
PROXIES = ("none", "nginx", "nginx-app-static")
SERVICE_KEYS = {
    "db",
    "db_url",
    "db_pool_size",
    "pgbouncer",
    "pgbouncer_pool_size",
    "pgbouncer_pool_mode",
    "proxy_client_keepalive",
    "client_keepalive",
    "tls_key",
    "tls_resumption",
}
TLS_KEYS = ("ecdsa-p256", "rsa-2048")


@dataclass(frozen=True)
class ServicesSpec:
    db: str = "sqlite"
    db_url: str | None = None
    db_pool_size: int | None = None
    pgbouncer: bool = False
    pgbouncer_pool_size: int = 100
    pgbouncer_pool_mode: str = "session"
    proxy_client_keepalive: bool = True
    client_keepalive: bool = True
    tls_key: str = "ecdsa-p256"
    tls_resumption: bool = False

    def describe(self) -> dict[str, Any]:
        """For metadata.json: every field, a user's URL without its password."""
        return {
            "db": self.db,
            "db_url": redact_url(self.db_url) if self.db_url else None,
            "db_pool_size": self.db_pool_size,
            "pgbouncer": self.pgbouncer,
            "pgbouncer_pool_size": self.pgbouncer_pool_size,
            "pgbouncer_pool_mode": self.pgbouncer_pool_mode,
            "proxy_client_keepalive": self.proxy_client_keepalive,
            "client_keepalive": self.client_keepalive,
            "tls_key": self.tls_key,
            "tls_resumption": self.tls_resumption,
        }


def redact_url(url: str) -> str:
    """The URL with any password replaced by '***'."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _int(data: dict[str, Any], key: str, bad: Callable[[str, str], None]) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        bad(key, f"expected an int >= 1, got {value!r}")
        return None
    return value


def _bool(data: dict[str, Any], key: str, default: bool, bad: Callable[[str, str], None]) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        bad(key, f"expected true or false, got {value!r}")
        return default
    return value


def parse_services(data: dict[str, Any], bad: Callable[[str, str], None]) -> ServicesSpec:
    """The services part of a scenario; problems go to bad(key, problem)."""
    db = data.get("db", "sqlite")
    if db not in DB_KINDS:
        bad("db", f"expected one of {', '.join(DB_KINDS)}, got {db!r}")
        db = "sqlite"
    db_url = data.get("db_url")
    if db_url is not None and (db != "url" or not isinstance(db_url, str)):
        bad("db_url", 'a string, only with db = "url"')
        db_url = None
    if db == "url" and db_url is None:
        db_url = os.environ.get("DATABASE_URL") or None
        if db_url is None:
            bad("db", 'db = "url" needs db_url or the environment variable DATABASE_URL')
    if db_url is not None and urlsplit(db_url).scheme not in ("postgresql", "postgres", "sqlite"):
        bad("db_url", f"expected a postgresql:// or sqlite:/// URL, got {redact_url(db_url)!r}")
    pgbouncer = _bool(data, "pgbouncer", False, bad)
    if pgbouncer and db != "postgres":
        bad("pgbouncer", 'pgbouncer = true needs db = "postgres"')
    mode = data.get("pgbouncer_pool_mode", "session")
    if mode not in POOL_MODES:
        bad("pgbouncer_pool_mode", f"expected one of {', '.join(POOL_MODES)}, got {mode!r}")
        mode = "session"
    tls_key = data.get("tls_key", "ecdsa-p256")
    if tls_key not in TLS_KEYS:
        bad("tls_key", f"expected one of {', '.join(TLS_KEYS)}, got {tls_key!r}")
        tls_key = "ecdsa-p256"
    return ServicesSpec(
        db=str(db),
        db_url=db_url,
        db_pool_size=_int(data, "db_pool_size", bad),
        pgbouncer=pgbouncer,
        pgbouncer_pool_size=_int(data, "pgbouncer_pool_size", bad) or 100,
        pgbouncer_pool_mode=str(mode),
        proxy_client_keepalive=_bool(data, "proxy_client_keepalive", True, bad),
        client_keepalive=_bool(data, "client_keepalive", True, bad),
        tls_key=str(tls_key),
        tls_resumption=_bool(data, "tls_resumption", False, bad),
    )


def proxy_axis(value: Any, bad: Callable[[str], None]) -> tuple[str | None, ...]:
    """A selector's proxy key: "none", "nginx" (nginx serves /static/ itself),
    "nginx-app-static" (nginx passes /static/ to the app), either with options
    (-tcp, -http, -lc, -limit<N>: harness/plan/stacks.py), or a list of them; None means
    no proxy."""
    values = value if isinstance(value, list) else [value]
    for v in values:
        options = parse_proxy(v) if isinstance(v, str) else None
        if isinstance(v, str) and re.fullmatch(r"(none-)?limit\d+", v):
            bad(f"{v!r}: a rate limit needs a proxy in front (nginx-limit<N>)")
            return (None,)
        if options is not None and options.limit_rps is not None and options.limit_rps < 1:
            bad(f"{v!r}: the rate limit must be >= 1 request/s")
            return (None,)
    ok = [v == "none" or (isinstance(v, str) and parse_proxy(v) is not None) for v in values]
    if not values or not all(ok):
        bad(
            f"expected one of {', '.join(PROXIES)} (nginx ones with the options -tcp, -http, "
            f"-lc, -limit<N> in that order) or a list of them, got {value!r}"
        )
        return (None,)
    return tuple(None if v == "none" else str(v) for v in values)


def client_keepalive(stack: Stack, spec: ServicesSpec) -> bool:
    """Whether the clients' connections stay open between requests: not when the clients
    close them (client_keepalive = false), else nginx's setting (proxy_client_keepalive)
    when the stack is proxied, else the server's own."""
    if not spec.client_keepalive:
        return False
    return spec.proxy_client_keepalive if stack.proxy else stack.server.keepalive


def load_env(spec: ServicesSpec, tls_ca: str | None) -> dict[str, str]:
    """What the load generator reads besides its window: the clients' keep-alive and, for
    a run with +tls stacks, the certificate to trust (tls_ca) and session resumption."""
    env = {"PWB_KEEPALIVE": "1" if spec.client_keepalive else "0"}
    if tls_ca is not None:
        env["PWB_TLS_CA"] = tls_ca
        env["PWB_TLS_RESUME"] = "1" if spec.tls_resumption else "0"
    return env
