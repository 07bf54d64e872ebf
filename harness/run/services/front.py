"""What clients talk to in a cell: the app server itself, or nginx in front of it.

With a proxy the server binds a Unix socket (its servers.toml uds_argv) in a short private
directory, or with -tcp a port of the cell's loopback address, and nginx listens on the
cell's port; x<instances> starts that many servers behind nginx's upstream. A server whose
command line uses {tmpdir} (Apache's server root) gets that private directory too (one
per instance); it is removed after the server has stopped.
"""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import ServerStartError
from harness.core.paths import REPO_ROOT
from harness.core.procs import ProcessRegistry
from harness.plan.stacks import Stack
from harness.run.launch import (
    HOST,
    Running,
    free_port,
    log_tail,
    start,
    unprivileged,
    wait_healthy,
)
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
    # The server instances behind the proxy (none without one), and what nginx speaks
    # to them.
    upstreams: tuple[Upstream, ...] = ()
    upstream_protocol: str | None = None

    def wait_healthy(self, path: str, timeout: float) -> float:
        """Wait for every instance behind the proxy to answer on its own (several
        instances), then for a 200 on path through the front. The instances come first:
        nginx marks an instance that refuses a connection as failed and passes it no
        request for fail_timeout (10 s), so asking the front while they start would leave
        some of them idle at the start of the window. Seconds taken; ServerStartError
        with the log tail."""
        started = time.monotonic()
        deadline = started + timeout
        if len(self.upstreams) > 1:
            for upstream in self.upstreams:
                while not _answers(upstream, path, self.upstream_protocol):
                    code = self.running.proc.poll()
                    if code is not None or time.monotonic() > deadline:
                        why = (
                            f"exited with code {code}"
                            if code is not None
                            else (f"no answer within {timeout:g} s")
                        )
                        raise ServerStartError(
                            f"instance {upstream.address} of the server {why}; log tail:\n"
                            f"{log_tail(self.running.log_path)}"
                        )
                    time.sleep(0.05)
        # The front's own wait: the whole timeout with one instance (its error then names
        # the timeout given), else what the instances left of it, to a tenth of a second.
        left = timeout if len(self.upstreams) <= 1 else round(deadline - time.monotonic(), 1)
        wait_healthy(self.running, path, max(1.0, left))
        return time.monotonic() - started

    def stop_proxy(self, procs: ProcessRegistry) -> int | None:
        """Stop nginx and remove the private directory (after the server has stopped)."""
        code = procs.stop(self.proxy) if self.proxy is not None else None
        if self.private_dir is not None:
            shutil.rmtree(self.private_dir, ignore_errors=True)
        if self.cell_dir is not None:
            shutil.rmtree(self.cell_dir / "nginx-temp", ignore_errors=True)
        return code


@dataclass(frozen=True)
class Upstream:
    """One server instance behind nginx: its address as nginx's upstream names it, and
    where it listens (a Unix socket, or host:port over TCP)."""

    address: str
    socket: Path | None
    host: str
    port: int | None
    tmpdir: Path | None


def _upstreams(stack: Stack, host: str, port: int, private: Path | None) -> list[Upstream]:
    """The stack's server instances: one without a proxy (on the cell's port), else
    stack.instances behind nginx, each on its own socket or port and private directory."""
    options = stack.proxy_options
    if options is None or private is None:
        return [Upstream(f"{host}:{port}", None, host, port, private)]
    many = stack.instances > 1
    taken = {port}
    upstreams = []
    for i in range(stack.instances):
        tmpdir = None
        if stack.server.needs_tmpdir:
            tmpdir = private / f"i{i}" if many else private
            tmpdir.mkdir(exist_ok=True)
        if options.tcp:
            inst_port = free_port(host)
            while inst_port in taken:
                inst_port = free_port(host)
            taken.add(inst_port)
            upstreams.append(Upstream(f"{host}:{inst_port}", None, host, inst_port, tmpdir))
        else:
            sock = private / (f"app-{i}.sock" if many else "app.sock")
            upstreams.append(Upstream(f"unix:{sock}", sock, host, None, tmpdir))
    return upstreams


def _instance_argv(stack: Stack, upstream: Upstream, port: int, tls: TlsFiles | None) -> list[str]:
    socket = str(upstream.socket) if upstream.socket is not None else None
    tmpdir = str(upstream.tmpdir) if upstream.tmpdir is not None else None
    files = (str(tls.cert), str(tls.key)) if tls is not None else None
    argv = stack.argv(upstream.host, upstream.port or port, socket=socket, tmpdir=tmpdir,
                      tls=files)  # fmt: skip
    if not Path(argv[0]).exists():
        raise ServerStartError(
            f"{stack.server.id}: {argv[0]} is not installed (package "
            f"{', '.join(stack.server.packages)}): `make install` installs the servers, "
            "mod_wsgi only where Apache's apxs is (`make system-deps` first)"
        )
    return unprivileged(argv) if stack.server.refuses_root else argv


def server_argv(
    stack: Stack, upstreams: Sequence[Upstream], port: int, tls: TlsFiles | None
) -> list[str]:
    """The command line that starts the stack's server: the server itself, or for several
    instances a shell that starts each in the background and waits. They share its
    process group (stopped together) and its process tree (the monitor sums it: CPU and
    memory of all instances, plus the shell's own few MB, idle in `wait`); when one
    instance exits the shell does too, so a dead instance fails the stack as a dead
    server does."""
    argvs = [_instance_argv(stack, u, port, tls) for u in upstreams]
    if len(argvs) == 1:
        return argvs[0]
    bash = shutil.which("bash") or "/bin/bash"
    script = " ".join(f"{shlex.join(a)} &" for a in argvs) + " wait -n"
    return [bash, "-c", script]


def _answers(upstream: Upstream, path: str, protocol: str | None) -> bool:
    """The instance accepts a connection and, where it speaks HTTP, answers 200 on path."""
    family = socket.AF_UNIX if upstream.socket is not None else socket.AF_INET
    target: str | tuple[str, int] = (
        str(upstream.socket) if upstream.socket is not None else (upstream.host, upstream.port or 0)
    )
    try:
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            conn.settimeout(1.0)
            conn.connect(target)
            if protocol != "http":
                return True
            conn.sendall(f"GET {path} HTTP/1.0\r\nHost: {upstream.host}\r\n\r\n".encode())
            return conn.recv(64).split(b" ")[1:2] == [b"200"]
    except (OSError, IndexError):
        return False


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
    """Start the stack's server on port, or nginx on port in front of the server's
    instances (Unix sockets, or TCP ports of host with -tcp) when the stack has a proxy.
    The stack's own variables (db_pool_size) go over env. A +tls stack needs tls, the
    run's certificate: the front (nginx or the server) then speaks HTTPS. The caller waits
    with Front.wait_healthy."""
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
    options = stack.proxy_options
    try:
        upstreams = _upstreams(stack, host, port, private)
        if options is not None:
            static_dir = STATIC_DIR if stack.proxy_serves_static else None
            protocol = stack.upstream_protocol or "http"
            config = nginx.config_text(
                [u.address for u in upstreams],
                port,
                protocol,
                cell_dir,
                client_keepalive=client_keepalive,
                static_dir=static_dir,
                host=host,
                tls=tls,
                balance=options.balance,
                limit_rps=stack.limit_rps,
            )
            proxy = nginx.start(procs, cell_dir, cpus, config)
        server_tls = tls if stack.server_tls else None
        argv = server_argv(stack, upstreams, port, server_tls)
        ca = str(tls.cert) if tls is not None else None
        server = start(procs, argv, port, cpus=cpus, env=env, log_path=cell_dir / "server.log",
                       stop_signal=stack.server.stop_signal, host=host, tls_ca=ca)  # fmt: skip
    except BaseException:
        if proxy is not None:
            procs.stop(proxy)
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
        raise
    cell = cell_dir if proxy is not None else None
    behind = tuple(upstreams) if options is not None else ()
    return Front(server, proxy, private, cell, behind, stack.upstream_protocol)
