"""Locust as a subprocess (never imported here: it monkey-patches the interpreter), and the
per-request records it leaves behind."""

from __future__ import annotations

import json
import math
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import LoadError
from harness.core.paths import REPO_ROOT
from harness.plan.scenario import LoadSpec, Mix
from harness.results.records import Record, read_records
from harness.run.launch import HOST


@dataclass(frozen=True)
class LoadOutput:
    """What one Locust run left: records sorted by start time, and when spawning completed."""

    records: list[Record]
    spawn_complete_at: float
    locust_requests: int | None
    locust_failures: int | None
    # Per Locust process that ran users ("<pid>", or "w<index>" for a worker): its record
    # count, and for a worker what it reported (users, host, pid).
    per_process: dict[str, dict[str, Any]] = field(default_factory=dict)


# Load goes on this long past the measure window, so that the window ends under full load.
TAIL_S = 0.5


def run_time_s(load: LoadSpec) -> int:
    """Locust's --run-time, an upper bound: spawning margin + warm-up + measure + tail.

    The locustfile itself quits TAIL_S after the measure window (PWB_STOP_AFTER_S),
    counted from the moment spawning completed.
    """
    return math.ceil(load.spawn_margin_s + load.warmup_s + load.measure_s + TAIL_S)


def stop_timeout_s(load: LoadSpec) -> int:
    """Locust's --stop-timeout: whole seconds only (it refuses "0.5"), so rounded up."""
    return math.ceil(load.stop_timeout_s)


def locust_argv(load: LoadSpec, users: int, url: str, master_port: int | None = None) -> list[str]:
    """The Locust command line for one cell (headless, closed loop, all users at once).

    Distributed (load.processes > 1 or load.load_workers): Locust's master on master_port
    (load.master_port for workers started by hand; a free loopback port for --processes,
    where Locust would otherwise listen on every interface)."""
    return [
        sys.executable, "-m", "locust",
        "-f", str(load.locustfile),
        "--headless",
        "--host", url,
        "--users", str(users),
        "--spawn-rate", str(users),
        "--run-time", f"{run_time_s(load)}s",
        "--stop-timeout", str(stop_timeout_s(load)),
        # Failed requests are data here, not a reason for Locust to exit non-zero.
        "--exit-code-on-error", "0",
        "--loglevel", "WARNING",
        "--only-summary",
        *_distribution_argv(load, master_port),
    ]  # fmt: skip


def _distribution_argv(load: LoadSpec, master_port: int | None) -> list[str]:
    if load.load_workers:
        return [
            "--master", "--expect-workers", str(load.load_workers),
            "--expect-workers-max-wait", f"{math.ceil(load.workers_wait_s)}",
            "--master-bind-host", load.master_host,
            "--master-bind-port", str(load.master_port),
        ]  # fmt: skip
    if load.processes > 1:
        if master_port is None:
            raise LoadError("load.processes > 1 needs a port for Locust's master")
        return [
            "--processes", str(load.processes),
            "--master-bind-host", HOST, "--master-bind-port", str(master_port),
            "--master-host", HOST, "--master-port", str(master_port),
        ]  # fmt: skip
    return []


def worker_command(
    load: LoadSpec,
    mix: Mix,
    users: int,
    target_rps: int | None,
    load_env: Mapping[str, str] | None = None,
) -> list[str]:
    """The command that starts one worker of a load.load_workers cell, run from the root of a
    checkout of this repository on the worker's host (env carries the cell's settings, and
    load_env the session's: the clients' keep-alive and, for +tls stacks, the certificate to
    trust, a path that must hold the run's tls-cert.pem on the worker's host)."""
    env = {**locust_env(load, mix, Path("."), target_rps, users), **(load_env or {})}
    master = load.master_host
    if master in ("0.0.0.0", "*"):
        master = socket.getfqdn()
    locustfile = (
        load.locustfile.relative_to(REPO_ROOT)
        if load.locustfile.is_relative_to(REPO_ROOT)
        else load.locustfile
    )
    return [
        "env", *(f"{k}={env[k]}" for k in (*WORKER_ENV, *sorted(load_env or {}))),
        "locust", "-f", str(locustfile), "--worker",
        "--master-host", master, "--master-port", str(load.master_port),
        "--exit-code-on-error", "0", "--loglevel", "WARNING",
    ]  # fmt: skip


def go_file(output_dir: Path) -> Path:
    """The file whose creation lets a waiting Locust start its users."""
    return output_dir / "go"


# What a worker's locustfile reads; the output folder, go file and stop time are the master's.
WORKER_ENV = ("PWB_MIX", "PWB_CLIENT", "PWB_REQUEST_TIMEOUT_S", "PWB_TARGET_RPS", "PWB_USERS")
# The master waits this long after spawning for every worker to report its users, so that
# spawning completes when every user everywhere runs (Locust's default: 1 s).
WORKERS_REPORT_WAIT_S = 30


def locust_env(
    load: LoadSpec,
    mix: Mix,
    output_dir: Path,
    target_rps: int | None = None,
    users: int | None = None,
) -> dict[str, str]:
    """Environment the locustfile reads: the mix as JSON, where to write, when to start
    (the go file) and when to stop."""
    return {
        "PWB_USERS": str(users or 0),
        "LOCUST_WAIT_FOR_WORKERS_REPORT_AFTER_RAMP_UP": str(WORKERS_REPORT_WAIT_S),
        "PWB_MIX": mix.to_json(),
        "PWB_OUTPUT_DIR": str(output_dir),
        "PWB_GO_FILE": str(go_file(output_dir)),
        "PWB_CLIENT": load.client,
        "PWB_REQUEST_TIMEOUT_S": f"{load.request_timeout_s:g}",
        "PWB_STOP_AFTER_S": f"{load.warmup_s + load.measure_s + TAIL_S:g}",
        # Open loop: the arrival rate the users share (0: closed loop).
        "PWB_TARGET_RPS": str(target_rps or 0),
    }


def distribution(load: LoadSpec) -> str:
    """Which Locust setup: "single" (one process), "processes" (a master forking load.processes
    workers here) or "workers" (a master waiting for workers started by hand)."""
    if load.load_workers:
        return "workers"
    return "processes" if load.processes > 1 else "single"


def _check_workers(spawns: list[dict[str, Any]], per_process: dict[str, dict[str, Any]]) -> None:
    """Every worker the master stopped sent all the records it logged."""
    missing = [m for s in spawns for m in s.get("workers_missing", [])]
    if missing:
        raise LoadError(
            f"{len(missing)} Locust worker(s) sent no records before the master quit: "
            f"{', '.join(missing)} (see locust.log and the workers' output)"
        )
    for s in spawns:
        for name, worker in (s.get("workers") or {}).items():
            got = per_process.get(name, {}).get("records", 0)
            if got != worker["records"]:
                raise LoadError(
                    f"Locust worker {name} on {worker.get('host')} logged {worker['records']} "
                    f"requests but {got} records arrived"
                )
            per_process[name] = {**worker, "records": got}


def collect(output_dir: Path) -> LoadOutput:
    """Merge every Locust process's files in output_dir and remove the per-process parts."""
    spawn_files = sorted(output_dir.glob("spawn.*.json"))
    request_files = sorted(output_dir.glob("requests.*.csv"))
    if not spawn_files or not request_files:
        raise LoadError(f"Locust left no records in {output_dir} (see locust.log there)")
    spawns = [json.loads(p.read_text()) for p in spawn_files]
    spawned = [s["spawn_complete_at"] for s in spawns if s.get("spawn_complete_at")]
    if not spawned:
        raise LoadError("Locust never reported spawning complete (see locust.log)")
    per_file = {p.name.split(".")[1]: read_records(p) for p in request_files}
    per_process = {name: {"records": len(recs)} for name, recs in per_file.items()}
    _check_workers(spawns, per_process)
    records = [r for recs in per_file.values() for r in recs]
    records.sort(key=lambda r: r.t_start)
    for p in [*spawn_files, *request_files]:
        p.unlink()
    go_file(output_dir).unlink(missing_ok=True)
    return LoadOutput(
        records=records,
        spawn_complete_at=max(spawned),
        locust_requests=sum(s.get("locust_requests", 0) for s in spawns),
        locust_failures=sum(s.get("locust_failures", 0) for s in spawns),
        per_process=per_process,
    )
