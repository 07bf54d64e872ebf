"""nginx in front of one cell's server: the config is written into the cell's directory,
nginx runs in the foreground (daemon off) as a registered child on the cell's loopback
port and proxies to the app server's Unix socket (HTTP, or uWSGI's own protocol with
uwsgi_pass). pid, temp paths and error log stay in the cell's directory; no access log.

The workers run as the harness's own user (root in CI): they must be able to connect to the
socket the app server created, and they only ever listen on 127.0.0.1.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from harness.procs import ProcessRegistry
from harness.server import HOST
from harness.services.binaries import require

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


def config_text(
    socket: Path, port: int, protocol: str, work_dir: Path, *, client_keepalive: bool
) -> str:
    """nginx.conf for one cell: one worker, upstream over the Unix socket."""
    user = pwd.getpwuid(os.geteuid()).pw_name
    temp = work_dir / "nginx-temp"
    keepalive = "keepalive_timeout 75s;" if client_keepalive else "keepalive_timeout 0;"
    upstream_keepalive = [] if protocol == "uwsgi" else [f"  keepalive {UPSTREAM_KEEPALIVE};"]
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
        "  upstream app {",
        f"    server unix:{socket};",
        *upstream_keepalive,
        "  }",
        "  server {",
        f"    listen {HOST}:{port} backlog=1024;",
        "    location / {",
        *(f"  {line}" for line in _location(protocol)),
        "    }",
        "  }",
        "}",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def start(
    procs: ProcessRegistry,
    socket: Path,
    port: int,
    protocol: str,
    work_dir: Path,
    cpus: Sequence[int],
    *,
    client_keepalive: bool,
) -> subprocess.Popen[bytes]:
    """nginx started (not yet answering: the caller polls through it)."""
    binary = require(["nginx"], 'proxy = "nginx"')["nginx"]
    (work_dir / "nginx-temp").mkdir(parents=True, exist_ok=True)
    conf = work_dir / "nginx.conf"
    conf.write_text(
        config_text(socket, port, protocol, work_dir, client_keepalive=client_keepalive)
    )
    argv = [binary, "-e", str(work_dir / "nginx-error.log"), "-p", str(work_dir),
            "-c", str(conf), "-g", "daemon off;"]  # fmt: skip
    # SIGQUIT would wait for open connections; SIGTERM is nginx's fast shutdown.
    return procs.spawn(
        argv, cpus=cpus, env=dict(os.environ), log_path=work_dir / "nginx.log",
        cwd=work_dir, stop_signal=signal.SIGTERM,
    )  # fmt: skip
