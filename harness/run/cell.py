"""One cell: start the server, check it, load it with Locust, stop everything, compute figures.

run_cell never raises for a cell that failed (it returns a failed row and records the
error in cell.json); only Interrupted goes up, after the cell's processes are stopped.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import shlex
import time
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from subprocess import Popen
from typing import Any

import httpx

from harness.core.errors import (
    ContractError,
    HarnessError,
    Interrupted,
    LoadError,
    ServerStartError,
)
from harness.core.paths import REPO_ROOT
from harness.core.procs import cpu_list
from harness.measure import cpuspeed, fidelity, integrity, noise
from harness.measure.calibration import Calibration
from harness.measure.figures import CellStats, Window, cell_stats
from harness.measure.monitor import Monitor, MonitorMeans, Sample, means
from harness.plan.cells import Cell
from harness.plan.scenario import Scenario
from harness.plan.services import client_keepalive
from harness.results.environment import iso, utc_now
from harness.results.files import write_json_atomic
from harness.results.format import REPEAT_COLUMNS
from harness.results.records import Record, write_records_gz
from harness.run import faults, loadgen
from harness.run.launch import HOST, free_port, log_tail, poll_health, wait_healthy
from harness.run.services.front import Front, start_front
from harness.run.session import Session


@dataclass(frozen=True)
class RunContext:
    run_id: str
    scenario: Scenario
    run_dir: Path
    session: Session
    # --allow-remote: let a cell target a host that is not loopback.
    allow_remote: bool = False
    # The generator's calibrated ceiling for ceiling_fraction (harness/calibrate.py).
    calibration: Calibration | None = None


@dataclass(frozen=True)
class Measured:
    stats: CellStats
    monitor: MonitorMeans
    window: Window
    load: loadgen.LoadOutput


def versions(cell: Cell) -> dict[str, str | None]:
    """Versions of the server's packages and the app's framework."""
    names = [*cell.stack.server.packages]
    if cell.stack.app.framework != "none":
        names.append(cell.stack.app.framework)
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def quick_checks(url: str) -> list[str]:
    """Run the quick contract checks; raise ContractError on ERROR problems, return warnings."""
    try:
        from apps.contract.checks import Severity, run_checks
    except ImportError as exc:
        raise HarnessError(f"cannot import apps.contract.checks: {exc}") from exc
    with httpx.Client(base_url=url, timeout=10.0) as client:
        problems = run_checks(client, quick=True)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        listed = "; ".join(f"{p.check}: {p.reason} ({p.url})" for p in errors)
        raise ContractError(f"{len(errors)} quick contract check(s) failed: {listed}")
    return [f"{p.check}: {p.reason} ({p.url})" for p in problems]


def _spawn_locust(
    cell: Cell, ctx: RunContext, url: str, cell_dir: Path, info: dict[str, Any]
) -> Popen[bytes]:
    """Start Locust now: it imports (the slow part) and then waits for the go file, so its
    start-up overlaps the server's on the other CPU set. With load.load_workers, print the
    command that starts each worker."""
    load = ctx.scenario.load
    env = {
        **os.environ,
        **loadgen.locust_env(load, cell.mix, cell_dir, cell.target_rps, cell.users),
    }
    # --processes: the master listens on a free loopback port for its forked workers.
    master_port = free_port() if load.processes > 1 else None
    argv = loadgen.locust_argv(load, cell.users, url, master_port)
    info["locust_command"] = argv
    if load.load_workers:
        command = shlex.join(loadgen.worker_command(load, cell.mix, cell.users, cell.target_rps))
        info["worker_command"] = command
        print(
            f"{cell.id}: Locust master on {load.master_host}:{load.master_port} waits up to "
            f"{load.workers_wait_s:g} s for {load.load_workers} worker(s); start each with:\n"
            f"  {command}"
        )
    return ctx.session.procs.spawn(
        argv, cpus=ctx.scenario.cpus.load, env=env, log_path=cell_dir / "locust.log", cwd=REPO_ROOT
    )


def _drive_locust(
    locust: Popen[bytes], ctx: RunContext, front: Front | None, cell_dir: Path
) -> list[Sample]:
    """Let Locust go and wait for its end with the monitor sampling (server, Locust and the
    services around the server); returns the samples. front None: a target started by the
    user (not monitored)."""
    running = front.running if front is not None else None
    load = ctx.scenario.load
    if locust.poll() is not None:
        tail = log_tail(cell_dir / "locust.log")
        raise LoadError(f"Locust exited with code {locust.returncode} before the start:\n{tail}")
    loadgen.go_file(cell_dir).touch()
    server = running.proc if running is not None else None
    services = dict(ctx.session.service_pids)
    if front is not None and front.proxy is not None:
        services["nginx"] = front.proxy.pid
    monitor = Monitor(
        server.pid if server is not None else None, locust.pid, cell_dir / "monitor.csv",
        services,
    ).start()  # fmt: skip
    # Past budget + faults.DEADLINE_GRACE_S, Locust and the server are killed; workers
    # started by hand may take up to workers_wait_s to connect.
    budget: float = loadgen.run_time_s(load) + loadgen.stop_timeout_s(load)
    if load.load_workers:
        budget += load.workers_wait_s
    try:
        code = faults.watch_load(
            locust, server, budget_s=budget,
            server_log=running.log_path if running is not None else None,
        )  # fmt: skip
    finally:
        monitor.stop()
        ctx.session.procs.stop(locust)
    if code != 0:
        tail = log_tail(cell_dir / "locust.log")
        raise LoadError(f"Locust exited with code {code}; log tail:\n{tail}")
    return monitor.samples


def _measure(cell: Cell, ctx: RunContext, cell_dir: Path, info: dict[str, Any]) -> Measured:
    if cell.stack.target is not None:
        return _measure_target(cell, ctx, cell_dir, info, cell.stack.target)
    port = free_port()
    faults.require_loopback(HOST, allow_remote=ctx.allow_remote)
    # The port was free when picked; another process may have taken it since.
    faults.ensure_port_free(HOST, port)
    procs = ctx.session.procs
    # The server on port, or nginx on port and the server on a Unix socket behind it.
    front = start_front(
        cell.stack,
        procs,
        port,
        cpus=ctx.scenario.cpus.server,
        env=ctx.session.env,
        cell_dir=cell_dir,
        client_keepalive=ctx.scenario.services.proxy_client_keepalive,
    )
    running = front.running
    info["command"] = list(running.argv)
    # Seconds spent in each phase, to see where a cell's time goes.
    phases: dict[str, float] = info.setdefault("phases_s", {})
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        phases[name] = round(now - clock, 3)
        clock = now

    locust = None
    try:
        locust = _spawn_locust(cell, ctx, running.url, cell_dir, info)
        try:
            wait_healthy(running, "/health", ctx.scenario.load.startup_timeout_s)
        except ServerStartError as exc:
            if running.proc.poll() is None:
                raise
            raise faults.explain_bind_failure(exc, HOST, port) from None
        lap("startup")
        info["contract_warnings"] = quick_checks(running.url)
        lap("checks")
        before = _items_snapshot(cell, ctx)
        samples = _drive_locust(locust, ctx, front, cell_dir)
        lap("locust")
        fidelity.crosscheck_cell(cell, ctx.scenario, procs, running.url, cell_dir, info)
    finally:
        if locust is not None:
            procs.stop(locust)
        info["server_exit_code"] = procs.stop(running.proc)
        front.stop_proxy(procs)
        lap("stop")
    measured = _figures(ctx, cell_dir, info, samples)
    if before is not None:
        _check_integrity(ctx, before, measured.load.records, info)
    return measured


def _measure_target(
    cell: Cell, ctx: RunContext, cell_dir: Path, info: dict[str, Any], url: str
) -> Measured:
    """A server started by the user: checked and loaded, never started, monitored or
    stopped; its database is not ours, so no integrity check."""
    info["command"] = None
    phases: dict[str, float] = info.setdefault("phases_s", {})
    clock = time.monotonic()
    locust = _spawn_locust(cell, ctx, url, cell_dir, info)
    try:
        poll_health(url, "/health", ctx.scenario.load.startup_timeout_s)
        info["contract_warnings"] = quick_checks(url)
        phases["checks"] = round(time.monotonic() - clock, 3)
        samples = _drive_locust(locust, ctx, None, cell_dir)
        phases["locust"] = round(time.monotonic() - clock - phases["checks"], 3)
        fidelity.crosscheck_cell(cell, ctx.scenario, ctx.session.procs, url, cell_dir, info)
    finally:
        ctx.session.procs.stop(locust)
    return _figures(ctx, cell_dir, info, samples)


def _items_snapshot(cell: Cell, ctx: RunContext) -> integrity.Snapshot | None:
    """Rows of `items` before a writing cell's load (None for a mix that only reads)."""
    if not integrity.applies(cell.mix) or not cell.stack.managed:
        return None
    return integrity.snapshot(ctx.session.own_env["DATABASE_URL"])


def _check_integrity(
    ctx: RunContext,
    before: integrity.Snapshot,
    records: list[Record],
    info: dict[str, Any],
) -> None:
    """After the server stopped: the database against the 201s and 204s; fails the cell."""
    after = integrity.snapshot(ctx.session.own_env["DATABASE_URL"])
    verdict = integrity.judge(before, after, records)
    info["integrity"] = verdict.to_json()
    if verdict.status != "ok":
        raise integrity.IntegrityError(f"data integrity check failed: {verdict.message}")


def _figures(
    ctx: RunContext, cell_dir: Path, info: dict[str, Any], samples: list[Sample]
) -> Measured:
    load = ctx.scenario.load
    output = loadgen.collect(cell_dir)
    write_records_gz(output.records, cell_dir / "requests.csv.gz")
    info["load_processes"] = load.load_processes
    info["load_distribution"] = loadgen.distribution(load)
    # Records per Locust process that ran users (its file before the merge), and for a
    # worker what it reported: users, host, pid.
    info["records_per_process"] = output.per_process
    start_at = output.spawn_complete_at + load.warmup_s
    window = Window(start_at, start_at + load.measure_s)
    info.update(
        spawn_complete_at=output.spawn_complete_at,
        warmup_start=output.records[0].t_start if output.records else None,
        warmup_end=window.start,
        measure_start=window.start,
        measure_end=window.end,
        locust_requests=output.locust_requests,
        locust_failures=output.locust_failures,
        records=len(output.records),
    )
    last = output.records[-1].t_start if output.records else 0.0
    # Locust kills the users whose request is still unanswered this long after the tail.
    stopped = (
        f"when Locust stopped its users (load.stop_timeout_s = {loadgen.stop_timeout_s(load)} s)"
    )
    # The --run-time cap counts from before spawning: a spawn slower than spawn_margin_s
    # ends the load before the window does. So do requests that outlast the whole load:
    # then the only records of the window's requests are their cut-off ones.
    if last < window.end - min(1.0, load.measure_s / 4):
        cut_off = sum(r.cut_off for r in output.records)
        hint = (
            f"{cut_off} request(s) were still unanswered {stopped}: raise "
            "load.stop_timeout_s (and load.spawn_margin_s if spawning was slow)"
            if cut_off
            else "raise load.spawn_margin_s"
        )
        raise LoadError(
            f"load stopped at {last:.3f}, before the measure window ended at {window.end:.3f}: "
            + hint
        )
    monitor = means(samples, window.start, window.end)
    if load.load_workers:
        # Workers on other hosts: the local Locust is only the master, its CPU says nothing.
        monitor = replace(monitor, locust_cpu_pct=math.nan)
    stats = cell_stats(output.records, window)
    info["cut_off"] = stats.cut_off
    if stats.cut_off:
        warning = (
            f"{stats.cut_off} request(s) sent in the measure window were still unanswered "
            f"{stopped}: raise load.stop_timeout_s; throughput and latency are lower bounds"
        )
        _warn(info, warning)
    info["stalled"] = stats.stalled
    if stats.stalled:
        _warn(
            info,
            f"{stats.stalled} request(s) sent before the measure window were still in flight "
            "when it ended: their users sent nothing in the window, which leaves them out of "
            "its latency (a lower bound here); look for a full listen backlog or SYN retries",
        )
    return Measured(stats, monitor, window, output)


def _warn(info: dict[str, Any], warning: str) -> None:
    """A warning about the cell: kept in cell.json and printed."""
    info.setdefault("warnings", []).append(warning)
    print(f"warning: {info['cell']}: {warning}")


def _row(
    cell: Cell, ctx: RunContext, status: str, started: str, m: Measured | None
) -> dict[str, Any]:
    stack, scenario = cell.stack, ctx.scenario
    row: dict[str, Any] = {
        "run": ctx.run_id, "scenario": scenario.name, "cell": cell.id, "stack": stack.id,
        "app": stack.app.id, "framework": stack.app.framework, "interface": stack.app.interface,
        "server": stack.server.id, "worker_class": stack.server.worker_class,
        "workers": stack.workers, "threads": stack.threads, "mix": cell.mix.name,
        "users": cell.users, "repeat": cell.repeat, "status": status,
        "keepalive": client_keepalive(stack, scenario.services),
        "server_cpus": cpu_list(scenario.cpus.server),
        "load_cpus": cpu_list(scenario.cpus.load), "warmup_s": scenario.load.warmup_s,
        "measure_s": scenario.load.measure_s, "started_at": started,
        # Empty: the apps' default (DB_POOL_SIZE unset).
        "db_pool_size": stack.db_pool_size or scenario.services.db_pool_size,
    }  # fmt: skip
    figures: dict[str, Any] = asdict(m.stats) if m else dict.fromkeys(asdict(_EMPTY))
    figures.update(asdict(m.monitor) if m else dict.fromkeys(asdict(_EMPTY_MONITOR)))
    figures.update(
        load_processes=scenario.load.load_processes,
        server_managed=stack.managed,
        records=len(m.load.records) if m else None,
        locust_requests=m.load.locust_requests if m else None,
    )
    return {**row, **figures}


_EMPTY = CellStats(0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
_EMPTY_MONITOR = MonitorMeans(0.0, 0.0, 0.0)


def run_cell(cell: Cell, ctx: RunContext) -> dict[str, Any]:
    """Measure one cell; returns its cells.csv row (status "ok" or "failed")."""
    cell_dir = ctx.run_dir / "raw" / cell.id
    cell_dir.mkdir(parents=True, exist_ok=True)
    started = iso(utc_now())
    info: dict[str, Any] = {
        "cell": cell.id, "stack": cell.stack.describe(), "mix": json.loads(cell.mix.to_json()),
        "users": cell.users, "repeat": cell.repeat, "versions": versions(cell),
        "cpu_sets": {"server": list(ctx.scenario.cpus.server), "load": list(ctx.scenario.cpus.load),
                     "upstream": list(ctx.scenario.cpus.upstream)},
        "env": {**ctx.session.public_env(), **cell.stack.env()}, "started_at": started,
    }  # fmt: skip
    measured = before = None
    sampler = noise.NoiseSampler()
    probe = cpuspeed.SpeedProbe(fidelity.probe_cpus(cell, ctx.scenario))
    try:
        before = fidelity.before_cell(cell, ctx.scenario, info)
        with sampler, probe:
            measured = _measure(cell, ctx, cell_dir, info)
        status, info["error"] = "ok", None
    except Interrupted:
        info.update(status="interrupted", error="run interrupted during this cell")
        write_json_atomic(cell_dir / "cell.json", info)
        raise
    except HarnessError as exc:
        status, info["error"] = "failed", str(exc)
    except Exception as exc:
        # A bug must cost one cell, not the cells still to come; the traceback says where.
        status, info["error"] = "failed", f"unexpected {type(exc).__name__}: {exc}"
        info["traceback"] = traceback.format_exc()
    if status != "ok":
        # Half-written per-process records of a broken load must not pass for results.
        info["partial_removed"] = faults.remove_partial(cell_dir)
    m = measured
    window = (m.stats.rps, m.monitor.locust_cpu_pct, m.window.start, m.window.end) if m else None
    fid = fidelity.row_figures(
        cell, ctx.scenario, ctx.calibration, before, sampler.samples, info, window,
        probe.samples,
    )  # fmt: skip
    info["status"] = status
    info["ended_at"] = iso(utc_now())
    write_json_atomic(cell_dir / "cell.json", info)
    # The repeat columns are filled in when the run ends (harness/measure/aggregates.py).
    row = _row(cell, ctx, status, started, measured) | fid | dict.fromkeys(REPEAT_COLUMNS)
    # ok / failed where the cell's writes were checked against the database, else n/a.
    row["integrity"] = (info.get("integrity") or {}).get("status", "n/a")
    return row
