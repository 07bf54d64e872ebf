"""Stacks: an app variant run by one server entry with a worker (and thread) count.

A stack id reads `<app>@<server>-w<workers>[t<threads>][p<db pool size>][+<proxy>][+tls]`,
e.g. `flask@gunicorn-gthread-w2t4`, `flask@gunicorn-sync-w2p10+nginx` or
`fastapi-async@uvicorn-w1+tls`.
`-limit<N>` after the proxy (`+nginx-limit500`): the proxy rejects requests beyond N per
second (nginx's limit_req, harness/run/services/nginx.py).
`+tls`: the clients speak HTTPS to the front, which terminates TLS: nginx when proxied,
else the server itself (its servers.toml tls_args).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import StackError
from harness.plan import registry
from harness.plan.registry import AppVariant, ServerSpec

_STACK_ID = re.compile(
    r"^(?P<app>[\w.-]+)@(?P<server>[\w.-]+?)(?:-w(?P<w>\d+)(?:t(?P<t>\d+))?(?:p(?P<p>\d+))?)?"
    r"(?:\+(?!tls$)(?P<proxy>[a-z0-9-]+))?(?:\+(?P<tls>tls))?$"
)
# A proxy token with its rate limit: `nginx-limit500`, or `limit500` alone (refused: a
# limit needs a proxy).
_PROXY_LIMIT = re.compile(r"^(?:(?P<proxy>[a-z0-9-]*?)-)?limit(?P<limit>\d+)$")
# "nginx": nginx in front, serving /static/ itself; "nginx-app-static": nginx in front,
# passing /static/ to the app like every other path.
PROXIES = ("nginx", "nginx-app-static")


@dataclass(frozen=True)
class Stack:
    """A runnable combination; build it with make_stack() so that it is always valid."""

    app: AppVariant
    server: ServerSpec
    workers: int
    threads: int | None
    # A proxy in front (one of PROXIES): the server then binds a Unix socket (uds_argv).
    proxy: str | None = None
    # http://HOST:PORT of a server started by the user: loaded, never started or stopped.
    target: str | None = None
    # Database connections per worker process for this stack (DB_POOL_SIZE); None: the
    # scenario's db_pool_size, else the apps' default.
    db_pool_size: int | None = None
    # HTTPS at the front: nginx terminates TLS when proxied, else the server (tls_args).
    tls: bool = False
    # Requests per second the proxy lets through (nginx's limit_req); the rest get 429.
    limit_rps: int | None = None

    @property
    def managed(self) -> bool:
        """True when the harness starts, monitors and stops the server."""
        return self.target is None

    @property
    def proxy_serves_static(self) -> bool:
        """nginx answers /static/ from apps/static/ itself, without the app."""
        return self.proxy == "nginx"

    @property
    def id(self) -> str:
        suffix = f"-w{self.workers}" + (f"t{self.threads}" if self.threads is not None else "")
        suffix += f"p{self.db_pool_size}" if self.db_pool_size is not None else ""
        proxy = f"+{self.proxy}" if self.proxy else ""
        proxy += f"-limit{self.limit_rps}" if self.limit_rps is not None else ""
        tls = "+tls" if self.tls else ""
        return f"{self.app.id}@{self.server.id}{suffix}{proxy}{tls}"

    @property
    def server_tls(self) -> bool:
        """The server itself terminates TLS (+tls without a proxy)."""
        return self.tls and self.proxy is None

    def argv(
        self,
        host: str,
        port: int,
        socket: str | None = None,
        tmpdir: str | None = None,
        tls: tuple[str, str] | None = None,
    ) -> list[str]:
        """The server's command line for this stack, placeholders filled in; with socket,
        the server's uds_argv (bound to that Unix socket). tmpdir is the stack's private
        temporary directory, required by a server whose command line uses it; tls the
        run's (certificate, key) files, required when the server terminates TLS."""
        if tmpdir is None and self.server.needs_tmpdir:
            raise StackError(f"{self.server.id}'s command line needs a temporary directory")
        if tls is None and self.server_tls:
            raise StackError(f"{self.id} terminates TLS: its server needs a certificate")
        module, callable_name = self.app.app.split(":")
        values = {
            "python": sys.executable,
            "bin": str(Path(sys.executable).parent),
            "app": self.app.app,
            "app_module": module,
            "app_callable": callable_name,
            "host": host,
            "port": str(port),
            "workers": str(self.workers),
            "threads": str(self.threads) if self.threads is not None else "",
            "socket": socket or "",
            "tmpdir": tmpdir or "",
        }
        template = self.server.uds_argv if socket is not None else self.server.argv
        if self.server_tls and tls is not None:
            values["certfile"], values["keyfile"] = tls
            template = (*template, *self.server.tls_args)
        return [arg.format(**values) for arg in template]

    def env(self) -> dict[str, str]:
        """What this stack sets in its server's environment over the run's (DB_POOL_SIZE)."""
        return {} if self.db_pool_size is None else {"DB_POOL_SIZE": str(self.db_pool_size)}

    def describe(self) -> dict[str, Any]:
        """Every field of the stack, for cell.json."""
        return {
            "id": self.id,
            "app": self.app.id,
            "framework": self.app.framework,
            "interface": self.app.interface,
            "app_import": self.app.app,
            "server": self.server.id,
            "program": self.server.program,
            "worker_class": self.server.worker_class,
            "workers": self.workers,
            "threads": self.threads,
            "keepalive": self.server.keepalive,
            "stop_signal": self.server.stop_signal.name,
            "proxy": self.proxy,
            "target": self.target,
            "server_managed": self.managed,
            "static_from": "nginx" if self.proxy_serves_static else "app",
            "db_pool_size": self.db_pool_size,
            "tls": "nginx" if self.tls and self.proxy else "server" if self.tls else None,
            "limit_rps": self.limit_rps,
        }


def invalid_reason(
    app: AppVariant,
    server: ServerSpec,
    workers: int,
    threads: int | None,
    proxy: str | None = None,
    tls: bool = False,
    limit_rps: int | None = None,
) -> str:
    """Why this combination cannot run, or "" when it can."""
    if limit_rps is not None and proxy is None:
        return f"-limit{limit_rps} needs a proxy in front to limit: +nginx-limit{limit_rps}"
    if limit_rps is not None and limit_rps < 1:
        return f"the rate limit must be >= 1 request/s, got -limit{limit_rps}"
    if tls and proxy is None and not server.tls_args:
        return f"{server.id} has no tls_args in servers.toml, so it cannot terminate TLS itself"
    if proxy is not None and proxy not in PROXIES:
        return f"unknown proxy {proxy!r} (known: {', '.join(PROXIES)})"
    if proxy is not None and not server.uds_argv:
        return f"{server.id} has no uds_argv in servers.toml, so it cannot run behind {proxy}"
    if app.interface not in server.interfaces:
        accepted = " or ".join(i.upper() for i in server.interfaces)
        article = "an" if app.interface == "asgi" else "a"
        return (
            f"{app.id} is {article} {app.interface.upper()} app and {server.id} "
            f"serves only {accepted} apps"
        )
    if workers < 1:
        return f"workers must be >= 1, got {workers}"
    if server.max_workers is not None and workers > server.max_workers:
        return f"{server.id} runs at most {server.max_workers} worker(s), got {workers}"
    if threads is not None and not server.threads:
        return f"{server.id} ({server.worker_class}) has no threads setting, got threads={threads}"
    if threads is not None and threads < 1:
        return f"threads must be >= 1, got {threads}"
    return ""


def _lookup(app_id: str, server_id: str) -> tuple[AppVariant, ServerSpec]:
    apps, servers = registry.variants(), registry.servers()
    if app_id not in apps:
        raise StackError(f"unknown app variant {app_id!r} (known: {', '.join(apps)})")
    if server_id not in servers:
        raise StackError(f"unknown server {server_id!r} (known: {', '.join(servers)})")
    return apps[app_id], servers[server_id]


def make_stack(
    app_id: str,
    server_id: str,
    workers: int = 1,
    threads: int | None = None,
    proxy: str | None = None,
    db_pool_size: int | None = None,
    tls: bool = False,
    limit_rps: int | None = None,
) -> Stack:
    """A valid stack, or StackError saying why the combination cannot run.

    A threaded server given no thread count uses its default_threads.
    """
    app, server = _lookup(app_id, server_id)
    reason = invalid_reason(app, server, workers, threads, proxy, tls, limit_rps)
    if db_pool_size is not None and db_pool_size < 1:
        reason = reason or f"db_pool_size must be >= 1, got {db_pool_size}"
    if reason:
        raise StackError(f"invalid stack {app_id}@{server_id}: {reason}")
    if server.threads and threads is None:
        threads = server.default_threads
    return Stack(app=app, server=server, workers=workers, threads=threads, proxy=proxy,
                 db_pool_size=db_pool_size, tls=tls, limit_rps=limit_rps)  # fmt: skip


def split_proxy(token: str) -> tuple[str | None, int | None]:
    """A proxy token as (proxy, limit_rps): `nginx` -> ("nginx", None), `nginx-limit500`
    -> ("nginx", 500), `limit500` -> (None, 500)."""
    match = _PROXY_LIMIT.match(token)
    if match is None:
        return token, None
    return match["proxy"] or None, int(match["limit"])


def parse_stack_id(text: str) -> Stack:
    """Parse `app@server[-wN[tM][pP]][+proxy[-limitN]][+tls]` (workers default to 1) into a
    valid stack."""
    match = _STACK_ID.match(text.strip())
    if match is None:
        raise StackError(
            f"bad stack id {text!r}: expected "
            "<app>@<server>[-w<workers>[t<threads>][p<db pool size>]][+<proxy>[-limit<N>]]"
            "[+tls], "
            "e.g. flask@gunicorn-gthread-w2t4, flask@gunicorn-sync-w2p10+nginx, "
            "fastapi-async@uvicorn-w1+tls"
        )
    workers = int(match["w"]) if match["w"] else 1
    threads = int(match["t"]) if match["t"] else None
    pool = int(match["p"]) if match["p"] else None
    proxy, limit = split_proxy(match["proxy"]) if match["proxy"] else (None, None)
    return make_stack(
        match["app"], match["server"], workers, threads, proxy, pool, bool(match["tls"]), limit
    )


@dataclass(frozen=True)
class Combination:
    """One app x server pair for `harness list`: an example stack id, or why it is invalid."""

    app: str
    server: str
    stack_id: str
    reason: str


def all_combinations() -> list[Combination]:
    """Every app variant x server entry, one worker, default threads."""
    rows = []
    for app in registry.variants().values():
        for server in registry.servers().values():
            reason = invalid_reason(app, server, 1, None)
            stack_id = "" if reason else make_stack(app.id, server.id).id
            rows.append(Combination(app.id, server.id, stack_id, reason))
    return rows


def default_verify_stacks() -> list[Stack]:
    """One worker of every valid app x server combination."""
    return [parse_stack_id(c.stack_id) for c in all_combinations() if not c.reason]
