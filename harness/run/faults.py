"""What can go wrong in a cell or before a run, detected and said plainly.

- the server exits while Locust loads it: the cell fails at once with the server's log tail;
- Locust or the server outlives the cell's hard deadline: both groups are killed;
- a server worker dies while its master lives on (the OOM killer, a crash): the window
  fails, naming the worker, and the stack goes on with the worker its master started;
- the port picked for the server is taken before the server binds it;
- the results folder cannot be written: refused before anything starts;
- a non-loopback target without --allow-remote: refused.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from harness.core.errors import HarnessError, LoadError, ResultsError, ServerStartError
from harness.run.launch import log_tail

# Past its budget (Locust's --run-time plus --stop-timeout), a cell's load phase gets this
# long before Locust and the server are killed.
DEADLINE_GRACE_S = 10.0
POLL_S = 0.2
# Files a Locust run leaves in the cell folder until the harness merges them.
PARTIAL_PATTERNS = ("requests.*.csv", "spawn.*.json", "go")


class ServerExitedError(ServerStartError):
    """The server process ended while the cell was loading it."""


class DeadlineError(LoadError):
    """The load phase ran past its hard deadline; Locust and the server were killed."""


class WorkerDiedError(LoadError):
    """A process of the server's tree (a worker) ended during the window; the server lives."""


class PortTakenError(ServerStartError):
    """The port picked for the server is held by another process."""


class RemoteTargetError(HarnessError):
    """A target host that is not loopback, without --allow-remote."""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def watch_load(
    locust: subprocess.Popen[bytes],
    server: subprocess.Popen[bytes] | None,
    *,
    budget_s: float,
    server_log: Path | None,
) -> int:
    """Wait for Locust to end; returns its exit code.

    Raises ServerExitedError (with the server's log tail) as soon as the server exits, and
    DeadlineError after SIGKILL to both groups when budget_s + DEADLINE_GRACE_S pass.
    server None: a target started by the user, neither watched nor killed.
    """
    deadline = time.monotonic() + budget_s + DEADLINE_GRACE_S
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return locust.wait(timeout=POLL_S)
        code = server.poll() if server is not None else None
        if code is not None and server_log is not None:
            raise ServerExitedError(
                f"server exited with code {code} during the load; log tail:\n{log_tail(server_log)}"
            )
        if time.monotonic() > deadline:
            _kill_group(locust)
            if server is not None:
                _kill_group(server)
            raise DeadlineError(
                f"load phase still running {budget_s + DEADLINE_GRACE_S:g} s after the go "
                f"(budget {budget_s:g} s + {DEADLINE_GRACE_S:g} s); Locust and server killed"
            )


def server_tree(pid: int) -> dict[int, float]:
    """The processes under the server's root (its workers): pid -> start time."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return {}
    tree = {}
    for child in children:
        with contextlib.suppress(psutil.Error):
            tree[child.pid] = child.create_time()
    return tree


def check_workers(before: dict[int, float], pid: int, log: Path | None) -> None:
    """WorkerDiedError when a process of the server's tree at the window's start is gone
    (or its pid now names a newer process) while the root lives: the window measured a
    server one worker short and a respawn."""
    after = server_tree(pid)
    gone = sorted(p for p, started in before.items() if after.get(p) != started)
    if not gone:
        return
    new = sorted(p for p in after if p not in before)
    tail = log_tail(log) if log is not None else ""
    raise WorkerDiedError(
        f"server worker(s) {', '.join(map(str, gone))} exited during the window (killed "
        "from outside, e.g. by the OOM killer, or crashed)"
        + (f"; the server started {', '.join(map(str, new))} in their place" if new else "")
        + (f"; log tail:\n{tail}" if tail else "")
    )


def ensure_port_free(host: str, port: int, outcome: str = "the server was not started") -> None:
    """Raise PortTakenError if something listens on host:port (as a server would bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Servers set SO_REUSEADDR, so only a listener (not TIME_WAIT) blocks them.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise PortTakenError(
                f"port {port} on {host} was free when picked but is now taken by another "
                f"process ({exc.strerror}); {outcome}"
            ) from None


def explain_bind_failure(exc: ServerStartError, host: str, port: int) -> HarnessError:
    """A server that exited while its port is held by another process lost the port race:
    say so, keeping the original error and log tail."""
    try:
        ensure_port_free(host, port, "the server could not bind it")
    except PortTakenError as taken:
        return PortTakenError(f"{taken}\n{exc}")
    return exc


def remove_partial(cell_dir: Path) -> list[str]:
    """Delete the per-process files of an unfinished Locust run; returns their names."""
    removed = []
    for pattern in PARTIAL_PATTERNS:
        for path in cell_dir.glob(pattern):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path.name)
    return sorted(removed)


def ensure_writable_dir(path: Path) -> None:
    """Refuse a results folder that cannot hold a run, before anything starts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsError(
            f"results folder {path} cannot be created: {exc.strerror or exc}"
        ) from None
    if not path.is_dir():
        raise ResultsError(f"results folder {path} is not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".writable."):
            pass
    except OSError as exc:
        raise ResultsError(
            f"results folder {path} is not writable: {exc.strerror or exc}"
        ) from None


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8, ::1 and unix socket paths."""
    if host == "localhost" or host.startswith(("unix:", "/")):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_loopback(host: str, *, allow_remote: bool) -> None:
    """Refuse a non-loopback target unless allow_remote (the --allow-remote flag)."""
    if not allow_remote and not is_loopback(host):
        raise RemoteTargetError(
            f"target host {host!r} is not loopback: load tests stay on this machine "
            "unless --allow-remote is given"
        )


def require_endpoints(endpoints: Sequence[tuple[str, str]], *, allow_remote: bool) -> None:
    """Refuse a scenario naming a non-loopback host (a target, the Locust master's bind
    address) unless allow_remote; the error names the file and key."""
    if allow_remote:
        return
    remote = [(where, host) for where, host in endpoints if not is_loopback(host)]
    if remote:
        raise RemoteTargetError(
            "\n".join(
                f"{where}: host {host!r} is not loopback: load tests stay on this machine "
                "unless --allow-remote is given"
                for where, host in remote
            )
        )
