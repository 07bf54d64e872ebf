"""What clients talk to in a cell: the app server itself, or nginx in front of it.

With a proxy the server binds a Unix socket (its servers.toml uds_argv) in a short private
directory, and nginx listens on the cell's loopback port. A server whose command line uses
{tmpdir} (Apache's server root) gets that private directory too; it is removed after the
server has stopped.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import ServerStartError
from harness.core.paths import REPO_ROOT
from harness.core.procs import ProcessRegistry
from harness.plan.stacks import Stack
from harness.run.launch import HOST, Running, start, unprivileged
from harness.run.services import nginx
from harness.run.services.tls import TlsFiles

# The contract's static files (apps/contract/openapi.yaml, /static/{name}).
STATIC_DIR = REPO_ROOT / "apps" / "static"


@dataclass(frozen=True)
class Front:
    """running.proc is the app server (what the monitor samples); running.url is where the
    clients go (nginx when proxied)."""

    running: Running
    proxy: subprocess.Popen[bytes] | None
    # The stack's private temporary directory (the Unix socket behind a proxy, {tmpdir}).
    private_dir: Path | None
    cell_dir: Path | None = None

    def stop_proxy(self, procs: ProcessRegistry) -> int | None:
        """Stop nginx and remove the private directory (after the server has stopped)."""
        code = procs.stop(self.proxy) if self.proxy is not None else None
        if self.private_dir is not None:
            shutil.rmtree(self.private_dir, ignore_errors=True)
        if self.cell_dir is not None:
            shutil.rmtree(self.cell_dir / "nginx-temp", ignore_errors=True)
        return code


def _server_argv(
    stack: Stack, host: str, port: int, private: Path | None, tls: TlsFiles | None
) -> list[str]:
    socket = str(private / "app.sock") if stack.proxy is not None and private else None
    tmpdir = str(private) if stack.server.needs_tmpdir and private else None
    files = (str(tls.cert), str(tls.key)) if tls is not None else None
    argv = stack.argv(host, port, socket=socket, tmpdir=tmpdir, tls=files)
    if not Path(argv[0]).exists():
        raise ServerStartError(
            f"{stack.server.id}: {argv[0]} is not installed (package "
            f"{', '.join(stack.server.packages)}): `make install` installs the servers, "
            "mod_wsgi only where Apache's apxs is (`make system-deps` first)"
        )
    return unprivileged(argv) if stack.server.refuses_root else argv


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
    tls: TlsFiles | None = None,
) -> Front:
    """Start the stack's server on port, or nginx on port in front of the server on a
    Unix socket when the stack has a proxy. The stack's own variables (db_pool_size) go
    over env. A +tls stack needs tls, the run's certificate: the front (nginx or the
    server) then speaks HTTPS."""
    if stack.tls and tls is None:
        raise ServerStartError(f"{stack.id} speaks HTTPS and no certificate was made for it")
    tls = tls if stack.tls else None
    env = {**env, **stack.env()}
    # Unix socket paths are limited to ~107 bytes: a short directory under /tmp (or under
    # socket_parent, itself short and temporary).
    private = None
    if stack.proxy is not None or stack.server.needs_tmpdir:
        private = Path(tempfile.mkdtemp(prefix="pwb-sock-", dir=socket_parent))
    proxy = None
    try:
        if stack.proxy is not None:
            assert private is not None
            static_dir = STATIC_DIR if stack.proxy_serves_static else None
            proxy = nginx.start(procs, private / "app.sock", port, stack.server.uds_protocol,
                                cell_dir, cpus, client_keepalive=client_keepalive,
                                static_dir=static_dir, host=host, tls=tls,
                                limit_rps=stack.limit_rps)  # fmt: skip
        argv = _server_argv(stack, host, port, private, tls)
        ca = str(tls.cert) if tls is not None else None
        server = start(procs, argv, port, cpus=cpus, env=env, log_path=cell_dir / "server.log",
                       stop_signal=stack.server.stop_signal, host=host, tls_ca=ca)  # fmt: skip
    except BaseException:
        if proxy is not None:
            procs.stop(proxy)
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
        raise
    return Front(server, proxy, private, cell_dir if proxy is not None else None)
