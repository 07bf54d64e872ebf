"""Starting a server (or the upstream service) and waiting until it is healthy."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.core.errors import ServerStartError
from harness.core.paths import REPO_ROOT
from harness.core.procs import ProcessRegistry
from harness.run.services.tls import verify_for

HOST = "127.0.0.1"
LOG_TAIL_LINES = 40
# The account a server that refuses root (servers.toml refuses_root) runs as when the
# harness is root: Debian's web server account (in base-passwd, so present without apache2).
UNPRIVILEGED_USER = "www-data"


@dataclass(frozen=True)
class Running:
    """A started server: its process (group leader), URL, log and command line; tls_ca is
    the certificate to trust when the URL is https."""

    proc: subprocess.Popen[bytes]
    url: str
    port: int
    log_path: Path
    argv: tuple[str, ...]
    tls_ca: str | None = None


def free_port(host: str = HOST) -> int:
    """A port of host (loopback) that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, or a note that it is empty or missing."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"


def wait_healthy(running: Running, path: str, timeout: float) -> float:
    """Poll GET url+path until 200; returns seconds taken.

    Raises ServerStartError with the log tail if the process exits or time runs out.
    """
    return poll_health(running.url, path, timeout, running, tls_ca=running.tls_ca)


def poll_health(
    url: str,
    path: str,
    timeout: float,
    running: Running | None = None,
    *,
    tls_ca: str | None = None,
) -> float:
    """Poll GET url+path until 200; returns seconds taken. With running, a process that
    exits fails at once, and errors carry its log tail (a target started by the user has
    neither). An https URL is trusted through tls_ca, the run's certificate."""
    started = time.monotonic()
    deadline = started + timeout
    last_error = "no answer yet"
    with httpx.Client(base_url=url, timeout=1.0, verify=verify_for(tls_ca)) as client:
        while time.monotonic() < deadline:
            code = running.proc.poll() if running is not None else None
            if running is not None and code is not None:
                raise ServerStartError(
                    f"{running.argv[0]} exited with code {code} before answering {path}; "
                    f"log tail:\n{log_tail(running.log_path)}"
                )
            try:
                response = client.get(path)
                if response.status_code == 200:
                    return time.monotonic() - started
                last_error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last_error = type(exc).__name__
            time.sleep(0.05)
    tail = f"; log tail:\n{log_tail(running.log_path)}" if running is not None else ""
    raise ServerStartError(
        f"no 200 from {url}{path} within {timeout:g} s (last: {last_error}){tail}"
    )


def start(
    procs: ProcessRegistry,
    argv_for_port: Sequence[str],
    port: int,
    *,
    cpus: Sequence[int],
    env: dict[str, str],
    log_path: Path,
    stop_signal: signal.Signals = signal.SIGTERM,
    host: str = HOST,
    tls_ca: str | None = None,
) -> Running:
    """Spawn a server already rendered for host:port; the caller waits for health. With
    tls_ca, clients reach it over https and trust that certificate."""
    proc = procs.spawn(
        argv_for_port, cpus=cpus, env=env, log_path=log_path, cwd=REPO_ROOT, stop_signal=stop_signal
    )
    return Running(
        proc=proc,
        url=f"{'https' if tls_ca else 'http'}://{host}:{port}",
        port=port,
        log_path=log_path,
        argv=tuple(argv_for_port),
        tls_ca=tls_ca,
    )


def unprivileged(argv: Sequence[str]) -> list[str]:
    """argv for a server that refuses root: as it is, unless the harness runs as root; then
    run as UNPRIVILEGED_USER through setpriv, keeping root's access to files
    (CAP_DAC_OVERRIDE, ambient so that it survives every exec down to the app's processes).
    The server then reads the repository and writes the run's database wherever they are,
    as every other server does; its files stay readable and removable by the harness."""
    if os.geteuid() != 0:
        return list(argv)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ServerStartError(
            f"{argv[0]} will not run as root and setpriv (util-linux) is missing to start it "
            f"as {UNPRIVILEGED_USER!r}"
        )
    try:
        account = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise ServerStartError(
            f"{argv[0]} will not run as root and the account {UNPRIVILEGED_USER!r} is missing"
        ) from None
    return [
        setpriv, f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups",
        "--inh-caps=+dac_override", "--ambient-caps=+dac_override", *argv,
    ]  # fmt: skip


def upstream_argv(port: int) -> list[str]:
    """The upstream delay service: apps/upstream/app.py on uvicorn, one worker."""
    return [
        sys.executable, "-m", "uvicorn", "apps.upstream.app:app",
        "--host", HOST, "--port", str(port), "--workers", "1",
        "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
