"""nginx in front of one cell's server: the config is written into the cell's directory,
nginx runs in the foreground (daemon off) as a registered child on the cell's loopback
port and proxies to the app server's Unix socket or TCP port, or to several instances of
it (HTTP, or uWSGI's own protocol with uwsgi_pass). pid, temp paths and error log stay in
the cell's directory; no access log.

The workers run as the harness's own user (root in CI): they must be able to connect to the
socket the app server created, and they only ever listen on 127.0.0.1.
"""

from __future__ import annotations

import math
import os
import pwd
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from harness.core.marks import title_marker
from harness.core.procs import ProcessRegistry
from harness.results.records import REJECTED_STATUS
from harness.run.launch import HOST
from harness.run.services.binaries import require
from harness.run.services.tls import TlsFiles

# What /etc/nginx/uwsgi_params sets, inline so that no file outside the run is read.
UWSGI_PARAMS = (
    "QUERY_STRING $query_string", "REQUEST_METHOD $request_method",
    "CONTENT_TYPE $content_type", "CONTENT_LENGTH $content_length",
    "REQUEST_URI $request_uri", "PATH_INFO $document_uri", "DOCUMENT_ROOT $document_root",
    "SERVER_PROTOCOL $server_protocol", "REQUEST_SCHEME $scheme", "HTTPS $https if_not_empty",
    "REMOTE_ADDR $remote_addr", "REMOTE_PORT $remote_port", "SERVER_PORT $server_port",
    "SERVER_NAME $server_name",
)  # fmt: skip
UPSTREAM_KEEPALIVE = 64
# Set on the files nginx serves itself (never by the apps): tells them apart in tests.
STATIC_HEADER = "X-Served-By"
# A stack's rate limit (-limit<N>, Stack.limit_rps) is nginx's limit_req, chosen so:
# - the key is one constant ("global"): the limit is the app's, whatever the client.
#   Keyed by $binary_remote_addr it would be per client address, and the rounds design
#   connects each window from an address of its own (distributed workers from their hosts).
# - a burst: with burst 0 nginx rejects any request that comes sooner than 1/rate after
#   the previous one, so the load generator's own jitter (a few requests sent together
#   after a scheduling pause) would be rejected below the limit. LIMIT_BURST_S of the
#   rate absorbs such clumps; at least LIMIT_MIN_BURST, so that the quick contract checks
#   after a start (about 15 requests back to back) pass. That holds for limits from 20/s,
#   the rate of the health poll before them (launch.poll_health, one every 50 ms): a lower
#   limit can be full of the poll's requests by the time the checks come.
# - nodelay: a burst goes to the app at once. Without it nginx holds the excess back and
#   releases it at the rate, so accepted requests would wait inside nginx: the latency the
#   limit is there to spare them. Above the limit the bucket stays full and what nginx
#   passes on is spaced 1/rate apart either way; a window's accepted requests exceed
#   rate x seconds by at most the burst, which the app meets at once when an overload
#   begins (in the warm-up, when the window before it left the bucket empty).
# - status 429 (nginx's default is 503, which reads as a failing server): the harness
#   counts a limited stack's 429s as rejected, apart from its errors.
# - log level info, below the error log's warn: no log line per rejection (thousands a
#   second above the limit would cost nginx's CPU in the measured window).
LIMIT_ZONE = "pwb_limit"
LIMIT_BURST_S = 0.1
LIMIT_MIN_BURST = 20


def limit_burst(limit_rps: int) -> int:
    """The burst nginx allows above a limit of limit_rps requests/s (see LIMIT_BURST_S)."""
    return max(LIMIT_MIN_BURST, math.ceil(limit_rps * LIMIT_BURST_S))


def _limit_lines(limit_rps: int) -> tuple[list[str], list[str]]:
    """limit_req's lines: the zone (http block) and the limit (server block)."""
    if limit_rps < 1:
        raise ValueError(f"limit_rps must be >= 1 request/s, got {limit_rps}")
    zone = [f"  limit_req_zone global zone={LIMIT_ZONE}:1m rate={limit_rps}r/s;"]
    server = [
        f"    limit_req zone={LIMIT_ZONE} burst={limit_burst(limit_rps)} nodelay;",
        f"    limit_req_status {REJECTED_STATUS};",
        "    limit_req_log_level info;",
    ]
    return zone, server


def _location(protocol: str) -> list[str]:
    if protocol == "uwsgi":
        # uWSGI's protocol has no keep-alive in nginx: one upstream connection per request.
        return [*(f"    uwsgi_param {p};" for p in UWSGI_PARAMS), "    uwsgi_pass app;"]
    return [
        "    proxy_pass http://app;",
        # HTTP/1.1 and an empty Connection header keep upstream connections open
        # (where the server allows it; Gunicorn's sync worker closes them anyway).
        "    proxy_http_version 1.1;",
        '    proxy_set_header Connection "";',
        "    proxy_set_header Host $http_host;",
        "    proxy_set_header X-Forwarded-For $remote_addr;",
    ]


def _static_locations(static_dir: Path, protocol: str) -> list[str]:
    """/static/ from static_dir by nginx itself; anything that is not one of its files
    (and any method nginx's static module refuses) goes to the app, as @app."""
    return [
        "    location /static/ {",
        # root, not alias: the URI's /static/ prefix is the directory's own name.
        f"      root {static_dir.parent};",
        "      try_files $uri @app;",
        "      error_page 405 = @app;",
        "      sendfile on;",
        # The contract's Content-Types (apps/contract/openapi.yaml, /static/{name}).
        "      types { text/css css; text/javascript js; application/octet-stream bin; }",
        "      charset utf-8;",
        "      charset_types text/css text/javascript;",
        f"      add_header {STATIC_HEADER} nginx;",
        "    }",
        "    location @app {",
        *(f"  {line}" for line in _location(protocol)),
        "    }",
    ]


def _tls_lines(tls: TlsFiles) -> list[str]:
    return [
        f"    ssl_certificate {tls.cert};",
        f"    ssl_certificate_key {tls.key};",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        # Session IDs and tickets both on (tickets are nginx's default): whether clients
        # resume is the scenario's tls_resumption, recorded with the run.
        "    ssl_session_cache shared:pwb:10m;",
        "    ssl_session_timeout 10m;",
    ]


def upstream_servers(upstream: Path | Sequence[str]) -> list[str]:
    """nginx's `server` addresses: one Unix socket given as a path, else the addresses as
    given ("unix:/path" or "host:port")."""
    return [f"unix:{upstream}"] if isinstance(upstream, Path) else list(upstream)


def config_text(
    upstream: Path | Sequence[str],
    port: int,
    protocol: str,
    work_dir: Path,
    *,
    client_keepalive: bool,
    static_dir: Path | None = None,
    host: str = HOST,
    tls: TlsFiles | None = None,
    balance: str = "round-robin",
    limit_rps: int | None = None,
) -> str:
    """nginx.conf for one cell: one worker, an upstream of the server's Unix socket (a
    path) or of the given addresses (several instances: round-robin, or least_conn with
    balance "least-conn"); with static_dir, nginx serves /static/ from it; with tls, it
    speaks HTTPS to the clients (TLS 1.2 and 1.3, nginx's default ciphers, a shared
    session cache so that clients may resume); with limit_rps, it passes that many
    requests per second on (and a burst) and answers the others 429 (see LIMIT_BURST_S)."""
    servers = upstream_servers(upstream)
    if not servers:
        raise ValueError("an upstream needs at least one server")
    if static_dir is not None and static_dir.name != "static":
        raise ValueError(f"static_dir must be a directory named static, got {static_dir}")
    user = pwd.getpwuid(os.geteuid()).pw_name
    temp = work_dir / "nginx-temp"
    keepalive = "keepalive_timeout 75s;" if client_keepalive else "keepalive_timeout 0;"
    upstream_keepalive = [] if protocol == "uwsgi" else [f"  keepalive {UPSTREAM_KEEPALIVE};"]
    limit_zone, limit = _limit_lines(limit_rps) if limit_rps is not None else ([], [])
    lines = [
        *( [f"user {user};"] if os.geteuid() == 0 else [] ),
        "worker_processes 1;",
        f"pid {work_dir / 'nginx.pid'};",
        f"error_log {work_dir / 'nginx-error.log'} warn;",
        "events { worker_connections 4096; }",
        "http {",
        "  access_log off;",
        "  default_type application/octet-stream;",
        *(f"  {kind}_temp_path {temp / kind};" for kind in
          ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
        f"  {keepalive}",
        "  keepalive_requests 1000000;",
        *limit_zone,
        "  upstream app {",
        *(["    least_conn;"] if balance == "least-conn" else []),
        *(f"    server {address};" for address in servers),
        *upstream_keepalive,
        "  }",
        "  server {",
        f"    listen {host}:{port}{' ssl' if tls else ''} backlog=1024;",
        *(_tls_lines(tls) if tls is not None else []),
        # In the server block: every location inherits it, /static/ included.
        *limit,
        "    location / {",
        *(f"  {line}" for line in _location(protocol)),
        "    }",
        *(_static_locations(static_dir, protocol) if static_dir is not None else []),
        "  }",
        "}",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def start(
    procs: ProcessRegistry, work_dir: Path, cpus: Sequence[int], config: str
) -> subprocess.Popen[bytes]:
    """nginx started with this configuration (config_text's, for the same work_dir), not
    yet answering: the caller polls through it."""
    binary = require(["nginx"], 'proxy = "nginx"')["nginx"]
    (work_dir / "nginx-temp").mkdir(parents=True, exist_ok=True)
    conf = work_dir / "nginx.conf"
    conf.write_text(config)
    # The run's marker in the command line: nginx overwrites its environment with its
    # process title, and the sweep for PWB_RUN_ID would miss it (procs.marked_pids).
    argv = [binary, "-e", str(work_dir / "nginx-error.log"), "-p", str(work_dir),
            "-c", str(conf), "-g", f"daemon off; {title_marker(procs.run_id)}"]  # fmt: skip
    # SIGQUIT would wait for open connections; SIGTERM is nginx's fast shutdown.
    return procs.spawn(
        argv, cpus=cpus, env=dict(os.environ), log_path=work_dir / "nginx.log",
        cwd=work_dir, stop_signal=signal.SIGTERM,
    )  # fmt: skip
