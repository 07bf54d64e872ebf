"""The rounds design: every stack started once, on a loopback address of its own, checked
and kept warm for the whole run; one cold window per stack right after the starts; then
each round's windows in its own order (harness/plan/cells.py), all driven through one
Locust process per round (run/driven.py).

Addresses: stack i listens on 127.0.1.(i+1) (127.0.2.x past 250 stacks); each window
connects from an address of its own (Sources: 127.x.y.z from a point drawn per run, one
with no TIME_WAIT socket towards the window's server; LeanHttpUser binds it). A TCP
connection is known by its 4-tuple, so no window's connections meet the TIME_WAIT sockets
of an earlier window or run: nothing waits for TIME_WAIT to drain, and no window starts
with half the port range in use. FastHttpUser cannot bind an address: its windows count
the machine's TIME_WAIT sockets and wait for them like the isolated design.

A stack that fails to start, or whose server dies during a window, is marked failed with
its log tail and its later windows are failed rows saying so; the others go on. A Locust
that dies fails its window and is started again for the rest of the round.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError, Interrupted, LoadError, ServerStartError
from harness.measure import cpuspeed, fidelity, integrity, noise
from harness.measure.monitor import Monitor
from harness.plan.cells import Cell
from harness.plan.stacks import Stack
from harness.run import faults, window
from harness.run.driven import DrivenLocust, WindowLoad
from harness.run.faults import ServerExitedError
from harness.run.launch import free_port, log_tail, poll_health
from harness.run.services.front import Front, start_front
from harness.run.window import Report, RunContext

Row = dict[str, Any]
Printer = Callable[[str], None]
PER_OCTET = 250
# A window tries this many source addresses for one without TIME_WAIT sockets.
SOURCE_TRIES = 20


def stack_address(index: int) -> str:
    """The loopback address stack `index` (from 0) listens on."""
    return f"127.0.{1 + index // PER_OCTET}.{1 + index % PER_OCTET}"


# Client addresses: 127.1.0.1 up to 127.250.249.250, 15.6 million of them.
CLIENT_ADDRESSES = 250 * PER_OCTET * PER_OCTET


def client_address(serial: int) -> str:
    """The loopback address number `serial` a window may connect from: 127.1.0.1,
    127.1.0.2, ... 127.1.0.250, 127.1.1.1, ... (62,500 per second octet), round again
    after CLIENT_ADDRESSES."""
    serial %= CLIENT_ADDRESSES
    block = serial // PER_OCTET
    return f"127.{1 + block // PER_OCTET}.{block % PER_OCTET}.{1 + serial % PER_OCTET}"


class Sources:
    """The windows' source addresses: from a point of the address space drawn per run (a
    run started right after another must not meet its TIME_WAIT sockets), each skipped
    while it has any TIME_WAIT socket towards the window's server."""

    def __init__(self, start: int | None = None) -> None:
        self._next = random.SystemRandom().randrange(CLIENT_ADDRESSES) if start is None else start

    def take(self, server: str) -> str:
        for _ in range(SOURCE_TRIES):
            source = client_address(self._next)
            self._next += 1
            if noise.time_wait_now(pair=(source, server)) == 0:
                return source
        return source  # the window's TIME_WAIT count says what it met


@dataclass(frozen=True)
class Up:
    """A stack started, healthy and checked, kept up for the run; front None: a target."""

    stack: Stack
    url: str
    address: str
    front: Front | None
    database_url: str | None
    launch: window.Launch

    @property
    def server(self) -> subprocess.Popen[bytes] | None:
        return self.front.running.proc if self.front is not None else None

    @property
    def server_log(self) -> Path | None:
        return self.front.running.log_path if self.front is not None else None


def start_stack(stack: Stack, index: int, ctx: RunContext) -> Up:
    """Start one stack on its own address (behind nginx when proxied), wait for /health,
    run the quick contract checks; ServerStartError or ContractError with the log tail."""
    load = ctx.scenario.load
    t0 = time.monotonic()
    if stack.target is not None:
        poll_health(stack.target, "/health", load.startup_timeout_s)
        warnings = tuple(window.quick_checks(stack.target))
        launch = window.Launch(None, warnings, {"startup": round(time.monotonic() - t0, 3)})
        return Up(stack, stack.target, "", None, None, launch)
    address = stack_address(index)
    faults.require_loopback(address, allow_remote=False)
    port = free_port(address)
    faults.ensure_port_free(address, port)
    # Stack ids are made of letters, digits and - . @ +: file names as they are.
    stack_dir = ctx.run_dir / "stacks" / stack.id
    stack_dir.mkdir(parents=True, exist_ok=True)
    database = ctx.session.stack_database(stack.id)
    env = {**ctx.session.env, "DATABASE_URL": database}
    procs = ctx.session.procs
    front = start_front(
        stack, procs, port, cpus=ctx.scenario.cpus.server, env=env, cell_dir=stack_dir,
        client_keepalive=ctx.scenario.services.proxy_client_keepalive, host=address,
        tls=ctx.session.tls,
    )  # fmt: skip
    try:
        try:
            front.wait_healthy("/health", load.startup_timeout_s)
        except ServerStartError as exc:
            if front.running.proc.poll() is None:
                raise
            raise faults.explain_bind_failure(exc, address, port) from None
        startup = round(time.monotonic() - t0, 3)
        warnings = tuple(window.quick_checks(front.running.url, front.running.tls_ca))
    except BaseException:
        stop_stack(front, ctx)
        raise
    launch = window.Launch(list(front.running.argv), warnings, {"startup": startup})
    return Up(stack, front.running.url, address, front, database, launch)


def stop_stack(front: Front | None, ctx: RunContext) -> None:
    if front is not None:
        ctx.session.procs.stop(front.running.proc)
        front.stop_proxy(ctx.session.procs)


def _public_env(ctx: RunContext, cell: Cell, up: Up | None) -> dict[str, str]:
    env = {**ctx.session.public_env(), **cell.stack.env()}
    if up is not None and up.database_url is not None and up.database_url.startswith("sqlite"):
        env["DATABASE_URL"] = up.database_url
    return env


def failed_window(cell: Cell, ctx: RunContext, up: Up | None, error: str) -> Row:
    """The row (and cell.json) of a window that could not run: its stack failed."""
    cell_dir = ctx.run_dir / "raw" / cell.id
    cell_dir.mkdir(parents=True, exist_ok=True)
    identity = window.Identity.of(cell, ctx, _public_env(ctx, cell, up))
    Report(cell, cell_dir, [identity]).write("failed", error)
    empty = fidelity.empty_figures(None, cell.target_rps)
    return window.row(cell, ctx, "failed", identity.started_at, None, empty, "n/a")


def measure_window(
    cell: Cell, up: Up, driver: DrivenLocust, ctx: RunContext, sources: Sources
) -> tuple[Row, bool]:
    """Measure one window on a running stack; returns its row and whether the stack's
    server died during it. Raises Interrupted only."""
    scenario = ctx.scenario
    cell_dir = ctx.run_dir / "raw" / cell.id
    cell_dir.mkdir(parents=True, exist_ok=True)
    identity = window.Identity.of(cell, ctx, _public_env(ctx, cell, up))
    control = {"control_dir": str(driver.control_dir), "server_address": up.address}
    report = Report(
        cell, cell_dir, [identity, up.launch, window.Locust(driver.argv, control=control)]
    )
    # LeanHttpUser binds a source address of the window's own; FastHttpUser cannot.
    source = sources.take(up.address) if scenario.load.client == "lean" and up.front else None
    pair = (source, up.address) if source is not None and up.front is not None else None
    before = fid = verdict = None
    died = False
    try:
        before = fidelity.before_cell(cell, scenario, pair)
        report.add(before, before.warnings)
        writes = integrity.applies(cell.mix) and up.database_url is not None
        snapshot = integrity.snapshot(up.database_url) if writes and up.database_url else None
        load, samples, noise_samples, speed_samples = _drive(cell, up, driver, ctx, source)
        report.add(load)
        figures = window.measured(ctx, cell_dir, load.output, samples, cell.stack)
        report.add(figures, figures.warnings)
        wrk = fidelity.crosscheck_cell(cell, scenario, ctx.session.procs, up.url, cell_dir)
        if wrk is not None:
            report.add(window.Entry("crosscheck", wrk), window.crosscheck_warnings(wrk))
        if snapshot is not None and up.database_url is not None:
            after = integrity.snapshot(up.database_url)
            verdict = integrity.judge(snapshot, after, figures.load.records)
            integrity.settle(up.database_url)
            report.add_integrity(verdict)
        fid = report.add_fidelity(ctx, before, figures, noise_samples, speed_samples, wrk)
    except Interrupted:
        report.write("interrupted", "run interrupted during this window")
        raise
    except Exception as exc:
        died = isinstance(exc, ServerExitedError)
        error, extra = window.failure(exc)
        report.write("failed", error, extra)
        empty = fidelity.empty_figures(before, cell.target_rps)
        status = window.integrity_status(verdict)
        return window.row(cell, ctx, "failed", identity.started_at, None, empty, status), died
    report.write("ok", None)
    status = window.integrity_status(verdict)
    return window.row(cell, ctx, "ok", identity.started_at, figures, fid.columns, status), died


def _drive(
    cell: Cell, up: Up, driver: DrivenLocust, ctx: RunContext, source: str | None
) -> tuple[WindowLoad, list[Any], list[noise.NoiseSample], list[cpuspeed.SpeedSample]]:
    """The window's load with the monitor, the noise sampler and the CPU speed probe on."""
    services = dict(ctx.session.service_pids)
    if up.front is not None and up.front.proxy is not None:
        services["nginx"] = up.front.proxy.pid
    server = up.server
    assert driver.proc is not None
    workers = faults.server_tree(server.pid) if server is not None else {}
    monitor = Monitor(
        server.pid if server is not None else None, driver.proc.pid,
        ctx.run_dir / "raw" / cell.id / "monitor.csv", services,
    )  # fmt: skip
    sampler = noise.NoiseSampler()
    probe = cpuspeed.SpeedProbe(fidelity.probe_cpus(cell, ctx.scenario))
    with sampler, probe:
        monitor.start()
        try:
            load = driver.run_window(cell, up.url, source, server, up.server_log)
        finally:
            monitor.stop()
    if server is not None:
        faults.check_workers(workers, server.pid, up.server_log)
    return load, monitor.samples, sampler.samples, probe.samples


class Fleet:
    """The stacks of a run, started once: each Up, or why it failed."""

    def __init__(self, ctx: RunContext, out: Printer) -> None:
        self._ctx = ctx
        self._out = out
        self.up: dict[str, Up] = {}
        self.failed: dict[str, str] = {}

    def start(self, stacks: Iterable[Stack]) -> None:
        for index, stack in enumerate(stacks):
            t0 = time.monotonic()
            try:
                self.up[stack.id] = start_stack(stack, index, self._ctx)
            except HarnessError as exc:
                self.failed[stack.id] = f"stack {stack.id} did not start: {exc}"
                self._out(f"stack {stack.id}: FAILED: {exc}")
                continue
            took = time.monotonic() - t0
            self._out(f"stack {stack.id}: up at {self.up[stack.id].url} ({took:.1f} s)")

    def fail(self, stack: Stack, window: str) -> None:
        """The stack's server died during a window: stopped, and failed from now on."""
        up = self.up.pop(stack.id, None)
        tail = log_tail(up.server_log) if up is not None and up.server_log else ""
        self.failed[stack.id] = f"stack {stack.id} failed in window {window}; log tail:\n{tail}"
        if up is not None:
            stop_stack(up.front, self._ctx)

    def stop(self) -> None:
        for up in self.up.values():
            stop_stack(up.front, self._ctx)
        self.up.clear()


def run_rounds(
    rounds: list[list[Cell]],
    ctx: RunContext,
    fleet: Fleet,
    emit: Callable[[Row], None],
    sources: Sources,
) -> None:
    """Every window of every round (round 0: the cold windows), one Locust per round;
    emit(row) after each window."""
    for cells in rounds:
        if not cells:
            continue
        number = cells[0].round
        control = ctx.run_dir / "rounds" / f"r{number}"
        users = max(c.users for c in cells)
        driver: DrivenLocust | None = None
        try:
            for cell in cells:
                if cell.stack.id in fleet.failed:
                    emit(failed_window(cell, ctx, None, fleet.failed[cell.stack.id]))
                    continue
                if driver is None or not driver.alive:
                    try:
                        driver = _start_driver(ctx, control, users, len(cells), driver)
                    except LoadError as exc:
                        driver = None
                        emit(failed_window(cell, ctx, None, f"Locust did not start: {exc}"))
                        continue
                up = fleet.up[cell.stack.id]
                result, died = measure_window(cell, up, driver, ctx, sources)
                if died:
                    fleet.fail(cell.stack, cell.id)
                emit(result)
        finally:
            if driver is not None:
                driver.stop()


def _start_driver(
    ctx: RunContext, control: Path, users: int, windows: int, old: DrivenLocust | None
) -> DrivenLocust:
    """The round's Locust, in a control folder of its own: after one died, or when a
    resumed run meets the folder of an earlier attempt, rounds/r<k>-2, -3, ..."""
    if old is not None:
        old.stop()
    attempt = 1
    while control.exists():
        attempt += 1
        control = control.parent / f"{control.name.split('-')[0]}-{attempt}"
    driver = DrivenLocust(
        ctx.session,
        ctx.scenario.load,
        ctx.scenario.cpus.load,
        control,
        users,
        windows,
        ctx.feed,
    )
    try:
        driver.start()
    except LoadError:
        driver.stop()
        raise
    return driver
