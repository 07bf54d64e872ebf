"""pgbouncer between the apps and the throwaway PostgreSQL: config and userlist generated
in a private directory of the run, the process in the foreground as a registered child.

Pool mode: "session" by default. psycopg 3 prepares a statement after it ran five times on
a connection; in transaction mode the next transaction may get another server connection,
where that statement does not exist. pgbouncer >= 1.21 tracks prepared statements
(max_prepared_statements); older ones (Debian 12 ships 1.18) need session mode or apps that
turn preparation off, which ours do not. So transaction mode is refused below 1.21.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.procs import ProcessRegistry
from harness.run.launch import HOST, free_port, log_tail
from harness.run.services.binaries import require
from harness.run.services.postgres import DB_NAME, DB_USER, Postgres, owned_dir, service_account

STARTUP_TIMEOUT_S = 20.0
PREPARED_STATEMENTS_SINCE = (1, 21)


class PgbouncerError(HarnessError):
    """pgbouncer could not be configured or did not accept connections."""


@dataclass(frozen=True)
class Pgbouncer:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    version: str
    pool_mode: str
    pool_size: int


def version(binary: str) -> tuple[int, int]:
    """pgbouncer's (major, minor), from `pgbouncer --version`."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"(\d+)\.(\d+)", out)
    if match is None:
        raise PgbouncerError(f"cannot read the version of {binary}: {out!r}")
    return int(match[1]), int(match[2])


def check_mode(binary: str, pool_mode: str) -> tuple[int, int]:
    """The version, or PgbouncerError when transaction mode would break prepared statements."""
    found = version(binary)
    if pool_mode == "transaction" and found < PREPARED_STATEMENTS_SINCE:
        raise PgbouncerError(
            f'pgbouncer_pool_mode = "transaction" needs pgbouncer >= 1.21 (prepared statements '
            f'of psycopg), found {found[0]}.{found[1]}: use "session"'
        )
    return found


def config_text(
    pg: Postgres, port: int, pool_mode: str, pool_size: int, home: Path, prepared: bool
) -> str:
    """pgbouncer.ini: one database, SCRAM auth from the userlist, no unix socket."""
    lines = [
        "[databases]",
        f"{DB_NAME} = host={pg.host} port={pg.port} dbname={DB_NAME}",
        "[pgbouncer]",
        f"listen_addr = {HOST}",
        f"listen_port = {port}",
        "unix_socket_dir =",
        "auth_type = scram-sha-256",
        f"auth_file = {home / 'userlist.txt'}",
        f"pool_mode = {pool_mode}",
        f"default_pool_size = {pool_size}",
        "max_client_conn = 2000",
        "ignore_startup_parameters = extra_float_digits,options",
        "log_connections = 0",
        "log_disconnections = 0",
        "stats_period = 3600",
    ]
    if prepared:
        lines.append("max_prepared_statements = 200")
    return "\n".join(lines) + "\n"


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise PgbouncerError(
                f"pgbouncer exited with code {proc.returncode}; log tail:\n{log_tail(log)}"
            )
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PgbouncerError(f"pgbouncer did not accept connections: {exc}") from exc
            time.sleep(0.1)


@contextlib.contextmanager
def bouncer(
    procs: ProcessRegistry,
    pg: Postgres,
    home: Path,
    cpus: Sequence[int],
    *,
    pool_mode: str,
    pool_size: int,
) -> Iterator[Pgbouncer]:
    """pgbouncer in front of pg, files under home (removed with the cluster's directory)."""
    binary = require(["pgbouncer"], "pgbouncer = true")["pgbouncer"]
    found = check_mode(binary, pool_mode)
    account = service_account()
    owned_dir(home, account)
    userlist = home / "userlist.txt"
    # Plain text: pgbouncer derives SCRAM from it, for clients and for its own login.
    userlist.write_text(f'"{DB_USER}" "{pg.password}"\n')
    port = free_port()
    ini = home / "pgbouncer.ini"
    prepared = found >= PREPARED_STATEMENTS_SINCE
    ini.write_text(config_text(pg, port, pool_mode, pool_size, home, prepared))
    for path in (userlist, ini):
        path.chmod(0o600)
        if os.geteuid() == 0:
            os.chown(path, account.uid, account.gid)
    log = home / "pgbouncer.log"
    proc = procs.spawn(
        [*account.prefix, binary, str(ini)], cpus=cpus, env={"PATH": os.environ.get("PATH", "")},
        log_path=log, cwd=home, stop_signal=signal.SIGTERM,  # SIGTERM: immediate shutdown
    )  # fmt: skip
    try:
        url = f"postgresql://{DB_USER}:{pg.password}@{HOST}:{port}/{DB_NAME}"
        _wait_ready(url, proc, log)
        yield Pgbouncer(url, port, proc, f"{found[0]}.{found[1]}", pool_mode, pool_size)
    finally:
        procs.stop(proc, timeout=10)
