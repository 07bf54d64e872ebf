"""What every command that runs servers shares: the process registry with its signal
handling, the database (per-run SQLite, a throwaway PostgreSQL, optionally behind
pgbouncer, or the user's own DATABASE_URL), the server environment and the upstream service."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.paths import REPO_ROOT
from harness.core.procs import ProcessRegistry, shutdown_on_signals
from harness.plan.services import ServicesSpec, load_env, redact_url
from harness.run.launch import Running, free_port, start, upstream_argv, wait_healthy
from harness.run.services import pgbouncer, postgres
from harness.run.services.tls import TlsFiles, make_certificate

SECRET_ENV_KEYS = frozenset({"DJANGO_SECRET_KEY"})
# Variables that may hold a URL with a password: written with the password redacted.
URL_ENV_KEYS = frozenset({"DATABASE_URL"})
# Where nothing listens: an app asked for /io/upstream without the service answers 502.
NO_UPSTREAM_URL = "http://127.0.0.1:9"


@dataclass(frozen=True)
class Session:
    """A live session: start children through `procs`, give them `env`."""

    run_id: str
    procs: ProcessRegistry
    own_env: dict[str, str]
    work_dir: Path
    upstream: Running | None
    # What the database is and who started it, for metadata.json (no password).
    database: dict[str, Any] = field(default_factory=dict)
    # Root pids of the services this session started ("db", "pgbouncer"), for the monitor.
    service_pids: dict[str, int] = field(default_factory=dict)
    # The run's certificate when some stack speaks HTTPS (+tls), else None.
    tls: TlsFiles | None = None
    # What the load generator reads besides its window (services.load_env).
    load_env: dict[str, str] = field(default_factory=dict)

    @property
    def tls_ca(self) -> str | None:
        """The certificate clients trust (the run's own), or None without TLS."""
        return str(self.tls.cert) if self.tls is not None else None

    @property
    def env(self) -> dict[str, str]:
        """The full environment for servers: the harness's own variables over os.environ."""
        return {**os.environ, **self.own_env}

    def stack_database(self, name: str) -> str:
        """The DATABASE_URL of one stack kept up for a whole run: a SQLite file of its own,
        so that no stack's writes reach another's windows; the run's PostgreSQL (or the
        user's database) is shared, each writing window's rows checked and settled."""
        if self.database.get("kind") != "sqlite":
            return self.own_env["DATABASE_URL"]
        folder = self.work_dir / "db"
        folder.mkdir(exist_ok=True)
        return prepare_database(folder, name)

    def public_env(self) -> dict[str, str]:
        """The variables the harness sets for servers, secrets left out (for cell.json)."""
        return {
            k: redact_url(v) if k in URL_ENV_KEYS else v
            for k, v in self.own_env.items()
            if k not in SECRET_ENV_KEYS
        }


def prepare_database(work_dir: Path, name: str = "db") -> str:
    """A fresh SQLite file for this run (work_dir/<name>.sqlite3), schema created and
    `world` seeded; returns its URL."""
    try:
        from apps.common.store import prepare_database as prepare
    except ImportError as exc:
        raise HarnessError(f"cannot import apps.common.store.prepare_database: {exc}") from exc
    url = "sqlite:///" + str((work_dir / f"{name}.sqlite3").resolve())
    prepare(url)
    return url


def _start_upstream(
    procs: ProcessRegistry, env: dict[str, str], cpus: Sequence[int], work_dir: Path
) -> Running:
    port = free_port()
    running = start(
        procs, upstream_argv(port), port, cpus=cpus, env=env, log_path=work_dir / "upstream.log"
    )
    wait_healthy(running, "/delay?ms=0", timeout=30)
    return running


def _database(
    stack: contextlib.ExitStack,
    procs: ProcessRegistry,
    spec: ServicesSpec,
    work_dir: Path,
    cpus: Sequence[int],
    pids: dict[str, int],
) -> tuple[str, dict[str, Any]]:
    """The DATABASE_URL for the apps and its description; services entered on `stack`,
    their root pids put into pids."""
    if spec.db == "url" and spec.db_url:
        postgres.seed(spec.db_url)
        own = {"kind": "url", "url": redact_url(spec.db_url), "started_by_harness": False}
        return spec.db_url, own
    if spec.db != "postgres":
        url = prepare_database(work_dir)
        return url, {"kind": "sqlite", "url": url, "started_by_harness": True}
    root = postgres.cluster_root(work_dir / "postgres")
    pg = stack.enter_context(postgres.cluster(procs, root, cpus))
    pids["db"] = pg.proc.pid
    info: dict[str, Any] = {
        "kind": "postgres", "url": redact_url(pg.url), "started_by_harness": True,
        "cluster_dir": str(root),  # removed at the end of the run
        "server_version": pg.version, "world_rows": 10_000, "pgbouncer": None,
    }  # fmt: skip
    if not spec.pgbouncer:
        return pg.url, info
    home = root / "pgbouncer"
    pool_mode, pool_size = spec.pgbouncer_pool_mode, spec.pgbouncer_pool_size
    bouncer = stack.enter_context(
        pgbouncer.bouncer(procs, pg, home, cpus, pool_mode=pool_mode, pool_size=pool_size)
    )
    pids["pgbouncer"] = bouncer.proc.pid
    info["pgbouncer"] = {
        "version": bouncer.version, "pool_mode": pool_mode, "pool_size": pool_size,
        "url": redact_url(bouncer.url),
    }  # fmt: skip
    return bouncer.url, info


@contextmanager
def open_session(
    run_id: str,
    work_dir: Path,
    *,
    upstream_cpus: Sequence[int] | None,
    spec: ServicesSpec | None = None,
    service_cpus: Sequence[int] = (0,),
    tls: bool = False,
) -> Iterator[Session]:
    """Set up database, environment, (when upstream_cpus is given) the upstream service and
    (with tls) the run's certificate: its key in a private temporary directory, the
    certificate itself copied to work_dir/tls-cert.pem.

    On leaving, by return, error, Ctrl-C or SIGTERM, every child process is stopped, and a
    PostgreSQL cluster the session started is removed with its files, as is the key.
    """
    spec = spec or ServicesSpec()
    procs = ProcessRegistry(run_id)
    with shutdown_on_signals(procs), contextlib.ExitStack() as stack:
        pids: dict[str, int] = {}
        database_url, database = _database(stack, procs, spec, work_dir, service_cpus, pids)
        database["db_pool_size"] = spec.db_pool_size
        own_env = {
            "PYTHONPATH": str(REPO_ROOT),
            "DATABASE_URL": database_url,
            "UPSTREAM_URL": NO_UPSTREAM_URL,
            # Generated per run, never written anywhere.
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        }
        if spec.db_pool_size is not None:
            own_env["DB_POOL_SIZE"] = str(spec.db_pool_size)
        upstream = None
        if upstream_cpus is not None:
            upstream = _start_upstream(procs, {**os.environ, **own_env}, upstream_cpus, work_dir)
            own_env["UPSTREAM_URL"] = upstream.url
        certificate = None
        if tls:
            private = Path(tempfile.mkdtemp(prefix="pwb-tls-"))
            stack.callback(shutil.rmtree, private, ignore_errors=True)
            certificate = make_certificate(private, spec.tls_key)
            shutil.copyfile(certificate.cert, work_dir / "tls-cert.pem")
        ca = str(certificate.cert) if certificate is not None else None
        yield Session(
            run_id, procs, own_env, work_dir, upstream, database, pids, certificate,
            load_env(spec, ca),
        )  # fmt: skip
