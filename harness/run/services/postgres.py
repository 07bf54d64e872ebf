"""A throwaway PostgreSQL cluster for one run: initdb into the run directory, the server in
the foreground as a registered child on a free loopback port, a database and a user with a
password generated for this run, and everything stopped and removed on the way out.

initdb and postgres refuse to run as root: as root, both run as the `postgres` account
(Debian's package creates it) through setpriv, and the cluster directory belongs to it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.errors import HarnessError, ServerStartError
from harness.core.procs import ProcessRegistry
from harness.run.launch import HOST, free_port, log_tail
from harness.run.services.binaries import require

if TYPE_CHECKING:
    import psycopg

SERVICE_USER = "postgres"
DB_NAME = "bench"
DB_USER = "bench"
STARTUP_TIMEOUT_S = 30.0
# Enough for 100 concurrent clients plus pools; fsync, shared_buffers and the rest stay at
# their defaults: a cluster tuned for this benchmark would measure our tuning.
MAX_CONNECTIONS = 200


class PostgresError(HarnessError):
    """The throwaway cluster could not be created, started or seeded."""


@dataclass(frozen=True)
class Account:
    """Who runs the service processes: uid/gid, and the argv prefix that becomes them."""

    uid: int
    gid: int
    prefix: tuple[str, ...]


def service_account() -> Account:
    """As root: the `postgres` account through setpriv; otherwise the current user."""
    if os.geteuid() != 0:
        return Account(os.getuid(), os.getgid(), ())
    try:
        pw = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise PostgresError(
            f"running as root, PostgreSQL needs the unprivileged account {SERVICE_USER!r} "
            "(created by Debian's postgresql package: `make system-deps`)"
        ) from None
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    prefix = (setpriv, f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups")
    return Account(pw.pw_uid, pw.pw_gid, prefix)


def owned_dir(path: Path, account: Account, mode: int = 0o700) -> Path:
    """Create path (parents as needed), owned by account, with mode."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, account.uid, account.gid)
    path.chmod(mode)
    return path


def reachable(path: Path, account: Account) -> bool:
    """Whether account can traverse every existing directory above path (mode bits only)."""
    for parent in [p for p in path.parents if p.exists()]:
        st = parent.stat()
        bit = (
            stat.S_IXUSR if st.st_uid == account.uid
            else stat.S_IXGRP if st.st_gid == account.gid
            else stat.S_IXOTH
        )  # fmt: skip
        if not st.st_mode & bit:
            return False
    return True


def cluster_root(wanted: Path) -> Path:
    """wanted (in the run directory) when the service account can reach it, else a fresh
    private directory under the system's temp directory (e.g. below a 0700 pytest tmp)."""
    if reachable(wanted, service_account()):
        return wanted
    return Path(tempfile.mkdtemp(prefix="pwb-pg-"))


@dataclass(frozen=True)
class Postgres:
    """A running cluster: the app URL (with password: never write it), its parts, its process."""

    url: str
    host: str
    port: int
    password: str
    proc: subprocess.Popen[bytes]
    root: Path
    version: str


def _run(name: str, argv: Sequence[str], log: Path, env: dict[str, str]) -> None:
    with log.open("ab") as out:
        result = subprocess.run(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    if result.returncode != 0:
        raise PostgresError(f"{name} failed ({result.returncode}); log tail:\n{log_tail(log)}")


def _initdb(bins: dict[str, str], account: Account, data: Path, log: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    argv = [
        *account.prefix, bins["initdb"], "-D", str(data), "-U", SERVICE_USER,
        "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-sync",
    ]  # fmt: skip
    _run("initdb", argv, log, env)


def _server_argv(
    bins: dict[str, str], account: Account, data: Path, sock: Path, port: int
) -> list[str]:
    return [
        *account.prefix, bins["postgres"], "-D", str(data), "-p", str(port),
        "-c", f"listen_addresses={HOST}", "-c", f"unix_socket_directories={sock}",
        "-c", f"max_connections={MAX_CONNECTIONS}", "-c", "logging_collector=off",
    ]  # fmt: skip


def _admin_connect(sock: Path, port: int, timeout: float) -> psycopg.Connection[tuple[Any, ...]]:
    """A superuser connection over the cluster's own socket directory (trust, 0700)."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg.connect(
                host=str(sock), port=port, user=SERVICE_USER, dbname="postgres",
                autocommit=True, connect_timeout=2,
            )  # fmt: skip
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL did not accept connections: {exc}") from exc
            time.sleep(0.1)


def _create_db(
    sock: Path, port: int, password: str, proc: subprocess.Popen[bytes], log: Path
) -> str:
    from psycopg import sql

    if proc.poll() is not None:
        tail = log_tail(log)
        raise ServerStartError(f"postgres exited with code {proc.returncode}; log tail:\n{tail}")
    conn = _admin_connect(sock, port, STARTUP_TIMEOUT_S)
    with conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(DB_USER), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DB_NAME), sql.Identifier(DB_USER)
            )
        )
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def seed(url: str) -> None:
    """Tables created and `world` seeded by the apps' own code (10,000 rows, the contract)."""
    try:
        from apps.common.store import prepare_database
    except ImportError as exc:
        raise HarnessError(f"cannot import apps.common.store.prepare_database: {exc}") from exc
    prepare_database(url)


@contextlib.contextmanager
def cluster(procs: ProcessRegistry, root: Path, cpus: Sequence[int]) -> Iterator[Postgres]:
    """A seeded cluster under root (created here), stopped and root removed on the way out,
    by return, error or interruption."""
    bins = require(["initdb", "postgres"], 'db = "postgres"')
    account = service_account()
    proc = None
    # Unix socket paths are limited to 107 bytes, and a run directory can be deeper than
    # that allows (claims nest runs): the socket directory is a short one under /tmp.
    sock = owned_dir(Path(tempfile.mkdtemp(prefix="pwb-pg-")), account)
    try:
        owned_dir(root, account, 0o711)
        data = root / "data"
        log = root / "postgres.log"
        log.touch()
        if os.geteuid() == 0:
            os.chown(log, account.uid, account.gid)
        _initdb(bins, account, data, log)
        port = free_port()
        proc = procs.spawn(
            _server_argv(bins, account, data, sock, port),
            cpus=cpus, env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
            log_path=log, cwd=root, stop_signal=signal.SIGINT,  # SIGINT: fast shutdown
        )  # fmt: skip
        password = secrets.token_urlsafe(24)
        version = _create_db(sock, port, password, proc, log)
        url = f"postgresql://{DB_USER}:{password}@{HOST}:{port}/{DB_NAME}"
        seed(url)
        yield Postgres(url, HOST, port, password, proc, root, version)
    finally:
        if proc is not None:
            procs.stop(proc, timeout=15)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(sock, ignore_errors=True)
