"""Stacks: an app variant run by one server entry with a worker (and thread) count.

A stack id reads
`<app>@<server>-w<workers>[t<threads>][p<db pool size>][x<instances>][+<proxy>][+tls]`,
e.g. `flask@gunicorn-gthread-w2t4`, `flask@gunicorn-sync-w2p10+nginx`,
`flask@gunicorn-sync-w1x2+nginx-lc` or `fastapi-async@uvicorn-w1+tls`.
`+tls`: the clients speak HTTPS to the front, which terminates TLS: nginx when proxied,
else the server itself (its servers.toml tls_args).

The proxy part is `nginx` or `nginx-app-static`, then options in this order:
    -tcp        nginx reaches the server over a TCP port of the stack's loopback address
                (default: a Unix socket)
    -http       HTTP to a server whose socket speaks another protocol (uWSGI: --http-socket
                instead of its uwsgi protocol)
    -lc         least_conn balancing over the instances (default: round-robin)
    -limit<N>   nginx's limit_req at N requests/s in front of the server
`x<instances>`: that many copies of the server, each with the stack's workers, behind
nginx's upstream (needs a proxy): "N servers behind nginx" against "one server, N workers".
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
    r"^(?P<app>[\w.-]+)@(?P<server>[\w.-]+?)(?:-w(?P<w>\d+)(?:t(?P<t>\d+))?(?:p(?P<p>\d+))?"
    r"(?:x(?P<x>\d+))?)?(?:\+(?!tls$)(?P<proxy>[a-z0-9-]+))?(?:\+(?P<tls>tls))?$"
)
# "nginx": nginx in front, serving /static/ itself; "nginx-app-static": nginx in front,
# passing /static/ to the app like every other path.
PROXIES = ("nginx", "nginx-app-static")
_PROXY_TOKEN = re.compile(
    r"^(?P<name>nginx(?:-app-static)?)(?P<tcp>-tcp)?(?P<http>-http)?(?P<lc>-lc)?"
    r"(?:-limit(?P<limit>\d+))?$"
)
BALANCES = ("round-robin", "least-conn")


@dataclass(frozen=True)
class ProxyOptions:
    """A proxy token parsed: the proxy (one of PROXIES) and its options."""

    name: str
    tcp: bool = False
    http: bool = False
    balance: str = "round-robin"
    limit_rps: int | None = None

    @property
    def token(self) -> str:
        return (
            self.name + ("-tcp" if self.tcp else "") + ("-http" if self.http else "")
            + ("-lc" if self.balance == "least-conn" else "")
            + (f"-limit{self.limit_rps}" if self.limit_rps is not None else "")
        )  # fmt: skip


def parse_proxy(token: str) -> ProxyOptions | None:
    """The proxy token (`nginx-tcp-lc`, ...) parsed, or None when it is not one."""
    match = _PROXY_TOKEN.match(token)
    if match is None:
        return None
    limit = int(match["limit"]) if match["limit"] is not None else None
    return ProxyOptions(match["name"], bool(match["tcp"]), bool(match["http"]),
                        "least-conn" if match["lc"] else "round-robin", limit)  # fmt: skip


@dataclass(frozen=True)
class Stack:
    """A runnable combination; build it with make_stack() so that it is always valid."""

    app: AppVariant
    server: ServerSpec
    workers: int
    threads: int | None
    # A proxy in front: a token of PROXIES and options (parse_proxy); the server then binds
    # a Unix socket (uds_argv), or a TCP port with -tcp.
    proxy: str | None = None
    # http://HOST:PORT of a server started by the user: loaded, never started or stopped.
    target: str | None = None
    # Database connections per worker process for this stack (DB_POOL_SIZE); None: the
    # scenario's db_pool_size, else the apps' default.
    db_pool_size: int | None = None
    # HTTPS at the front: nginx terminates TLS when proxied, else the server (tls_args).
    tls: bool = False
    # Copies of the server behind the proxy's upstream, each with `workers` workers.
    instances: int = 1

    @property
    def proxy_options(self) -> ProxyOptions | None:
        """The proxy token parsed (make_stack has checked it), None without a proxy."""
        return parse_proxy(self.proxy) if self.proxy is not None else None

    @property
    def limit_rps(self) -> int | None:
        """nginx's limit_req rate in front of the server (-limit<N>), else None."""
        options = self.proxy_options
        return options.limit_rps if options is not None else None

    @property
    def upstream_protocol(self) -> str | None:
        """What nginx speaks to the server: "uwsgi" or "http" (None without a proxy)."""
        options = self.proxy_options
        if options is None:
            return None
        return "http" if options.http or options.tcp else self.server.uds_protocol

    @property
    def managed(self) -> bool:
        """True when the harness starts, monitors and stops the server."""
        return self.target is None

    @property
    def proxy_serves_static(self) -> bool:
        """nginx answers /static/ from apps/static/ itself, without the app."""
        options = self.proxy_options
        return options is not None and options.name == "nginx"

    @property
    def id(self) -> str:
        suffix = f"-w{self.workers}" + (f"t{self.threads}" if self.threads is not None else "")
        suffix += f"p{self.db_pool_size}" if self.db_pool_size is not None else ""
        suffix += f"x{self.instances}" if self.instances > 1 else ""
        proxy = f"+{self.proxy}" if self.proxy else ""
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
        template = self.server.argv
        if socket is not None:
            http = self.upstream_protocol == "http" and self.server.uds_protocol != "http"
            template = self.server.uds_http_argv if http else self.server.uds_argv
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
            "instances": self.instances,
            "upstream": (
                None if self.proxy_options is None else "tcp" if self.proxy_options.tcp else "unix"
            ),
            "upstream_protocol": self.upstream_protocol,
            "balance": self.proxy_options.balance if self.proxy_options is not None else None,
            "limit_rps": self.limit_rps,
        }


def invalid_reason(
    app: AppVariant,
    server: ServerSpec,
    workers: int,
    threads: int | None,
    proxy: str | None = None,
    tls: bool = False,
    instances: int = 1,
) -> str:
    """Why this combination cannot run, or "" when it can."""
    if tls and proxy is None and not server.tls_args:
        return f"{server.id} has no tls_args in servers.toml, so it cannot terminate TLS itself"
    options = parse_proxy(proxy) if proxy is not None else None
    if proxy is not None and options is None:
        return (
            f"unknown proxy {proxy!r}: expected {' or '.join(PROXIES)}, then any of the options "
            "-tcp, -http, -lc, -limit<N> in that order"
        )
    if instances < 1:
        return f"instances must be >= 1, got {instances}"
    if instances > 1 and options is None:
        return f"{instances} instances need a proxy in front to balance over them"
    if options is not None:
        reason = _proxy_reason(server, options, instances)
        if reason:
            return reason
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


def _proxy_reason(server: ServerSpec, options: ProxyOptions, instances: int) -> str:
    if not options.tcp and not server.uds_argv:
        return (
            f"{server.id} has no uds_argv in servers.toml, so it cannot run behind "
            f"{options.name} over a Unix socket (-tcp would use a port)"
        )
    if options.http and server.uds_protocol == "http":
        return f"-http: {server.id} speaks HTTP to {options.name} already"
    if options.http and not options.tcp and not server.uds_http_argv:
        return f"-http: {server.id} has no uds_http_argv in servers.toml"
    if options.tcp and server.uds_protocol != "http" and not options.http:
        return (
            f"-tcp: {server.id} speaks {server.uds_protocol} only on its Unix socket here; "
            "over TCP it speaks HTTP: add -http"
        )
    if options.balance != "round-robin" and instances < 2:
        return "-lc balances over instances: it needs x<instances> of 2 or more"
    if options.limit_rps is not None and options.limit_rps < 1:
        return f"-limit: expected a rate >= 1 request/s, got {options.limit_rps}"
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
    instances: int = 1,
) -> Stack:
    """A valid stack, or StackError saying why the combination cannot run.

    A threaded server given no thread count uses its default_threads.
    """
    app, server = _lookup(app_id, server_id)
    reason = invalid_reason(app, server, workers, threads, proxy, tls, instances)
    if db_pool_size is not None and db_pool_size < 1:
        reason = reason or f"db_pool_size must be >= 1, got {db_pool_size}"
    if reason:
        raise StackError(f"invalid stack {app_id}@{server_id}: {reason}")
    if server.threads and threads is None:
        threads = server.default_threads
    return Stack(app=app, server=server, workers=workers, threads=threads, proxy=proxy,
                 db_pool_size=db_pool_size, tls=tls, instances=instances)  # fmt: skip


def parse_stack_id(text: str) -> Stack:
    """Parse `app@server[-wN[tM][pP][xI]][+proxy][+tls]` (workers default to 1) into a
    valid stack."""
    match = _STACK_ID.match(text.strip())
    if match is None:
        raise StackError(
            f"bad stack id {text!r}: expected "
            "<app>@<server>[-w<workers>[t<threads>][p<db pool size>][x<instances>]]"
            "[+<proxy>][+tls], e.g. flask@gunicorn-gthread-w2t4, "
            "flask@gunicorn-sync-w2p10+nginx, flask@gunicorn-sync-w1x2+nginx-lc, "
            "fastapi-async@uvicorn-w1+tls"
        )
    workers = int(match["w"]) if match["w"] else 1
    threads = int(match["t"]) if match["t"] else None
    pool = int(match["p"]) if match["p"] else None
    instances = int(match["x"]) if match["x"] else 1
    return make_stack(match["app"], match["server"], workers, threads, match["proxy"], pool,
                      bool(match["tls"]), instances)  # fmt: skip


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
