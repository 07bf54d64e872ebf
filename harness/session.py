"""What every command that runs servers shares: the process registry with its signal
handling, the per-run database, the server environment and the upstream service."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.procs import ProcessRegistry, shutdown_on_signals
from harness.registry import REPO_ROOT
from harness.server import Running, free_port, start, upstream_argv, wait_healthy

SECRET_ENV_KEYS = frozenset({"DJANGO_SECRET_KEY"})
# Where nothing listens: an app asked for /io/upstream without the service answers 502.
NO_UPSTREAM_URL = "http://127.0.0.1:9"


@dataclass(frozen=True)
class Services:
    """A live session: start children through `procs`, give them `env`."""

    run_id: str
    procs: ProcessRegistry
    own_env: dict[str, str]
    work_dir: Path
    upstream: Running | None

    @property
    def env(self) -> dict[str, str]:
        """The full environment for servers: the harness's own variables over os.environ."""
        return {**os.environ, **self.own_env}

    def public_env(self) -> dict[str, str]:
        """The variables the harness sets for servers, secrets left out (for cell.json)."""
        return {k: v for k, v in self.own_env.items() if k not in SECRET_ENV_KEYS}


def prepare_database(work_dir: Path) -> str:
    """A fresh SQLite file for this run, schema created and `world` seeded; returns its URL."""
    try:
        from apps.common.store import prepare_database as prepare
    except ImportError as exc:
        raise HarnessError(f"cannot import apps.common.store.prepare_database: {exc}") from exc
    url = "sqlite:///" + str((work_dir / "db.sqlite3").resolve())
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


@contextmanager
def session(
    run_id: str, work_dir: Path, *, upstream_cpus: Sequence[int] | None
) -> Iterator[Services]:
    """Set up database, environment and (when upstream_cpus is given) the upstream service.

    On leaving, by return, error, Ctrl-C or SIGTERM, every child process is stopped.
    """
    procs = ProcessRegistry(run_id)
    with shutdown_on_signals(procs):
        own_env = {
            "PYTHONPATH": str(REPO_ROOT),
            "DATABASE_URL": prepare_database(work_dir),
            "UPSTREAM_URL": NO_UPSTREAM_URL,
            # Generated per run, never written anywhere.
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        }
        upstream = None
        if upstream_cpus is not None:
            upstream = _start_upstream(procs, {**os.environ, **own_env}, upstream_cpus, work_dir)
            own_env["UPSTREAM_URL"] = upstream.url
        yield Services(run_id, procs, own_env, work_dir, upstream)
