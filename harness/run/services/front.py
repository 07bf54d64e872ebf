"""What clients talk to in a cell: the app server itself, or nginx in front of it.

With a proxy the server binds a Unix socket (its servers.toml uds_argv) in a short private
directory, and nginx listens on the cell's loopback port.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.paths import REPO_ROOT
from harness.core.procs import ProcessRegistry
from harness.plan.stacks import Stack
from harness.run.launch import HOST, Running, start
from harness.run.services import nginx

# The contract's static files (apps/contract/openapi.yaml, /static/{name}).
STATIC_DIR = REPO_ROOT / "apps" / "static"


@dataclass(frozen=True)
class Front:
    """running.proc is the app server (what the monitor samples); running.url is where the
    clients go (nginx when proxied)."""

    running: Running
    proxy: subprocess.Popen[bytes] | None
    socket_dir: Path | None
    cell_dir: Path | None = None

    def stop_proxy(self, procs: ProcessRegistry) -> int | None:
        """Stop nginx and remove the socket directory (after the server has stopped)."""
        code = procs.stop(self.proxy) if self.proxy is not None else None
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
        if self.cell_dir is not None:
            shutil.rmtree(self.cell_dir / "nginx-temp", ignore_errors=True)
        return code


def start_front(
    stack: Stack,
    procs: ProcessRegistry,
    port: int,
    *,
    cpus: Sequence[int],
    env: dict[str, str],
    cell_dir: Path,
    client_keepalive: bool = True,
    socket_parent: Path | None = None,
    host: str = HOST,
) -> Front:
    """Start the stack's server on port, or nginx on port in front of the server on a
    Unix socket when the stack has a proxy. The stack's own variables (db_pool_size) go
    over env."""
    env = {**env, **stack.env()}
    if stack.proxy is None:
        argv = stack.argv(host, port)
        running = start(procs, argv, port, cpus=cpus, env=env, log_path=cell_dir / "server.log",
                        stop_signal=stack.server.stop_signal, host=host)  # fmt: skip
        return Front(running, None, None)
    # Unix socket paths are limited to ~107 bytes: a short directory under /tmp (or under
    # socket_parent, itself short and temporary).
    socket_dir = Path(tempfile.mkdtemp(prefix="pwb-sock-", dir=socket_parent))
    socket = socket_dir / "app.sock"
    proxy = None
    try:
        static_dir = STATIC_DIR if stack.proxy_serves_static else None
        proxy = nginx.start(procs, socket, port, stack.server.uds_protocol, cell_dir, cpus,
                            client_keepalive=client_keepalive, static_dir=static_dir,
                            host=host)  # fmt: skip
        argv = stack.argv(host, port, socket=str(socket))
        server = start(procs, argv, port, cpus=cpus, env=env, log_path=cell_dir / "server.log",
                       stop_signal=stack.server.stop_signal, host=host)  # fmt: skip
    except BaseException:
        if proxy is not None:
            procs.stop(proxy)
        shutil.rmtree(socket_dir, ignore_errors=True)
        raise
    return Front(server, proxy, socket_dir, cell_dir)
