"""One cell of the isolated design: start its server, check it, load it with a Locust of
its own, stop everything, compute figures (run/window.py).

run_cell never raises for a cell that failed (it returns a failed row and records the
error in cell.json); only Interrupted goes up, after the cell's processes are stopped.
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

from harness.core.errors import Interrupted, LoadError, ServerStartError
from harness.core.paths import REPO_ROOT
from harness.measure import cpuspeed, fidelity, integrity, noise
from harness.measure.monitor import Monitor, Sample
from harness.plan.cells import Cell
from harness.run import faults, loadgen
from harness.run.launch import HOST, free_port, log_tail, poll_health
from harness.run.services.front import Front, start_front
from harness.run.window import (
    Entry,
    Identity,
    Launch,
    Locust,
    Measured,
    Report,
    RunContext,
    crosscheck_warnings,
    failure,
    integrity_status,
    measured,
    quick_checks,
    remove_partial,
    row,
)

Row = dict[str, object]


def _spawn_locust(
    cell: Cell, ctx: RunContext, url: str, cell_dir: Path
) -> tuple[Popen[bytes], Locust]:
    """Start Locust now: it imports (the slow part) and then waits for the go file, so its
    start-up overlaps the server's on the other CPU set. With load.load_workers, print the
    command that starts each worker."""
    load = ctx.scenario.load
    env = {
        **os.environ,
        **loadgen.locust_env(load, cell.mix, cell_dir, cell.target_rps, cell.users),
        **ctx.session.load_env,
    }
    # --processes: the master listens on a free loopback port for its forked workers.
    master_port = free_port() if load.processes > 1 else None
    argv = loadgen.locust_argv(load, cell.users, url, master_port)
    worker = None
    if load.load_workers:
        worker = shlex.join(loadgen.worker_command(
            load, cell.mix, cell.users, cell.target_rps, ctx.session.load_env
        ))  # fmt: skip
        print(
            f"{cell.id}: Locust master on {load.master_host}:{load.master_port} waits up to "
            f"{load.workers_wait_s:g} s for {load.load_workers} worker(s); start each with:\n"
            f"  {worker}"
        )
    proc = ctx.session.procs.spawn(
        argv, cpus=ctx.scenario.cpus.load, env=env, log_path=cell_dir / "locust.log", cwd=REPO_ROOT
    )
    return proc, Locust(argv, worker)


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
    workers = faults.server_tree(server.pid) if server is not None else {}
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
    if server is not None and running is not None:
        faults.check_workers(workers, server.pid, running.log_path)
    return monitor.samples


@dataclass
class Stopwatch:
    """Seconds spent in each phase of a cell, to see where its time goes."""

    phases: dict[str, float] = field(default_factory=dict)
    _clock: float = field(default_factory=time.monotonic)

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.phases[name] = round(now - self._clock, 3)
        self._clock = now


@dataclass(frozen=True)
class Loaded:
    """A cell's load, done: its figures, the items snapshot taken before it (writing
    mixes), the quick checks' warnings and the wrk cross-check (None when off)."""

    measured: Measured
    snapshot: integrity.Snapshot | None
    contract_warnings: tuple[str, ...]
    crosscheck: dict[str, Any] | None


def _load(
    cell: Cell, ctx: RunContext, report: Report, url: str, front: Front | None, clock: Stopwatch
) -> Loaded:
    """Health, the quick checks, the integrity snapshot, then the load and the wrk
    cross-check; the server (or the target) answers at url."""
    cell_dir, load = report.cell_dir, ctx.scenario.load
    locust, how = _spawn_locust(cell, ctx, url, cell_dir)
    report.add(how)
    try:
        if front is not None:
            try:
                front.wait_healthy("/health", load.startup_timeout_s)
            except ServerStartError as exc:
                if front.running.proc.poll() is None:
                    raise
                raise faults.explain_bind_failure(exc, HOST, front.running.port) from None
        else:
            poll_health(url, "/health", load.startup_timeout_s)
        clock.lap("startup")
        warnings = tuple(quick_checks(url, ctx.session.tls_ca if cell.stack.tls else None))
        clock.lap("checks")
        snapshot = _items_snapshot(cell, ctx)
        samples = _drive_locust(locust, ctx, front, cell_dir)
        clock.lap("locust")
        wrk = fidelity.crosscheck_cell(cell, ctx.scenario, ctx.session.procs, url, cell_dir)
    finally:
        ctx.session.procs.stop(locust)
    figures = measured(ctx, cell_dir, loadgen.collect(cell_dir), samples, cell.stack)
    return Loaded(figures, snapshot, warnings, wrk)


def _items_snapshot(cell: Cell, ctx: RunContext) -> integrity.Snapshot | None:
    """Rows of `items` before a writing cell's load (None for a mix that only reads)."""
    if not integrity.applies(cell.mix) or not cell.stack.managed:
        return None
    return integrity.snapshot(ctx.session.own_env["DATABASE_URL"])


def _measure(cell: Cell, ctx: RunContext, report: Report) -> Loaded:
    """Start the server (behind nginx for a proxied stack), load it, stop it."""
    clock = Stopwatch()
    if cell.stack.target is not None:
        # A server started by the user: checked and loaded, never started, monitored or
        # stopped; its database is not ours, so no integrity check.
        done = _load(cell, ctx, report, cell.stack.target, None, clock)
        report.add(Launch(None, done.contract_warnings, clock.phases))
        return done
    port = free_port()
    faults.require_loopback(HOST, allow_remote=ctx.allow_remote)
    # The port was free when picked; another process may have taken it since.
    faults.ensure_port_free(HOST, port)
    procs = ctx.session.procs
    front = start_front(
        cell.stack, procs, port, cpus=ctx.scenario.cpus.server, env=ctx.session.env,
        cell_dir=report.cell_dir, client_keepalive=ctx.scenario.services.proxy_client_keepalive,
        tls=ctx.session.tls,
    )  # fmt: skip
    loaded: Loaded | None = None
    try:
        loaded = _load(cell, ctx, report, front.running.url, front, clock)
    finally:
        code = procs.stop(front.running.proc)
        front.stop_proxy(procs)
        clock.lap("stop")
        warnings = loaded.contract_warnings if loaded is not None else ()
        report.add(Launch(list(front.running.argv), warnings, clock.phases, code))
    assert loaded is not None  # _load returned, or raised through the finally above
    return loaded


def _verdict(cell: Cell, ctx: RunContext, loaded: Loaded) -> integrity.Verdict | None:
    """After the server stopped: the database against the 201s and 204s of a writing mix."""
    if loaded.snapshot is None:
        return None
    after = integrity.snapshot(ctx.session.own_env["DATABASE_URL"])
    return integrity.judge(loaded.snapshot, after, loaded.measured.load.records)


def run_cell(cell: Cell, ctx: RunContext) -> Row:
    """Measure one cell; returns its cells.csv row (status "ok" or "failed")."""
    cell_dir = ctx.run_dir / "raw" / cell.id
    cell_dir.mkdir(parents=True, exist_ok=True)
    identity = Identity.of(cell, ctx, {**ctx.session.public_env(), **cell.stack.env()})
    report = Report(cell, cell_dir, [identity])
    before = verdict = fid = None
    sampler = noise.NoiseSampler()
    probe = cpuspeed.SpeedProbe(fidelity.probe_cpus(cell, ctx.scenario))
    try:
        before = fidelity.before_cell(cell, ctx.scenario)
        report.add(before, before.warnings)
        with sampler, probe:
            loaded = _measure(cell, ctx, report)
        figures = loaded.measured
        report.add(figures, figures.warnings)
        if loaded.crosscheck is not None:
            report.add(
                Entry("crosscheck", loaded.crosscheck), crosscheck_warnings(loaded.crosscheck)
            )
        verdict = _verdict(cell, ctx, loaded)
        report.add_integrity(verdict)
        fid = report.add_fidelity(
            ctx, before, figures, sampler.samples, probe.samples, loaded.crosscheck
        )
    except Interrupted:
        report.write("interrupted", "run interrupted during this cell")
        raise
    except Exception as exc:
        error, extra = failure(exc)
        report.write("failed", error, extra | remove_partial(cell_dir))
        empty = fidelity.empty_figures(before, cell.target_rps)
        return row(cell, ctx, "failed", identity.started_at, None, empty, integrity_status(verdict))
    report.write("ok", None)
    return row(
        cell, ctx, "ok", identity.started_at, figures, fid.columns, integrity_status(verdict)
    )
