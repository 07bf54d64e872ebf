"""One measurement window, whatever started the server and Locust: the per-request records
become the cell's figures, and the cell's report (raw/<cell>/cell.json and its cells.csv
row) is assembled from the frozen records each step returned.

Both designs end here: a cell of the isolated design (run/cell.py: a server and a Locust
of its own) and a window of the rounds design (run/rounds.py: warm servers, one Locust
per round).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import traceback
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import httpx

from harness.core.errors import ContractError, HarnessError, LoadError
from harness.core.procs import cpu_list
from harness.measure import cpuspeed, fidelity, integrity, noise
from harness.measure.calibration import Calibration
from harness.measure.figures import CellStats, Window, cell_stats
from harness.measure.monitor import MonitorMeans, Sample, means
from harness.plan.cells import Cell
from harness.plan.scenario import LoadSpec, Scenario
from harness.plan.services import client_keepalive
from harness.plan.stacks import Stack
from harness.results.environment import iso, utc_now
from harness.results.files import write_json_atomic
from harness.results.format import REPEAT_COLUMNS
from harness.results.records import REJECTED_STATUS, write_records_gz
from harness.run import faults, loadgen
from harness.run.progress import LiveFeed
from harness.run.services.tls import verify_for
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
    # Where a window's live requests go while it runs: a terminal's progress bar.
    feed: LiveFeed | None = None


class Part(Protocol):
    """A frozen record of one step of a cell: its keys of cell.json, and its warnings."""

    def to_json(self) -> dict[str, Any]: ...


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


@dataclass(frozen=True)
class Identity:
    """What a cell is, known before anything runs."""

    cell: Cell
    started_at: str
    env: dict[str, str]
    cpu_sets: dict[str, list[int]]

    @classmethod
    def of(cls, cell: Cell, ctx: RunContext, env: dict[str, str]) -> Identity:
        return cls(cell, iso(utc_now()), env, ctx.scenario.cpus.describe())

    def to_json(self) -> dict[str, Any]:
        c = self.cell
        return {
            "cell": c.id, "stack": c.stack.describe(), "mix": json.loads(c.mix.to_json()),
            "users": c.users, "round": c.round, "cold": c.cold, "order": c.order,
            "target_rps": c.target_rps, "versions": versions(c), "cpu_sets": self.cpu_sets,
            "env": self.env, "started_at": self.started_at,
        }  # fmt: skip


def quick_checks(url: str, tls_ca: str | None = None) -> list[str]:
    """Run the quick contract checks; raise ContractError on ERROR problems, return warnings.
    An https URL is trusted through tls_ca, the run's certificate."""
    try:
        from apps.contract.checks import Severity, run_checks
    except ImportError as exc:
        raise HarnessError(f"cannot import apps.contract.checks: {exc}") from exc
    with httpx.Client(base_url=url, timeout=10.0, verify=verify_for(tls_ca)) as client:
        problems = run_checks(client, quick=True)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        listed = "; ".join(f"{p.check}: {p.reason} ({p.url})" for p in errors)
        raise ContractError(f"{len(errors)} quick contract check(s) failed: {listed}")
    return [f"{p.check}: {p.reason} ({p.url})" for p in problems]


@dataclass(frozen=True)
class Launch:
    """How the server was started and checked: its command, the quick checks' warnings,
    the seconds each phase took, its exit code once stopped (isolated design)."""

    command: list[str] | None
    contract_warnings: tuple[str, ...] = ()
    phases_s: dict[str, float] = field(default_factory=dict)
    server_exit_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "command": self.command,
            "contract_warnings": list(self.contract_warnings),
            "phases_s": self.phases_s,
        }
        if self.server_exit_code is not None:
            out["server_exit_code"] = self.server_exit_code
        return out


@dataclass(frozen=True)
class Locust:
    """How the load was made: Locust's command, and (load_workers) a worker's."""

    locust_command: list[str]
    worker_command: str | None = None
    control: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"locust_command": self.locust_command}
        if self.worker_command is not None:
            out["worker_command"] = self.worker_command
        if self.control is not None:
            out["driven"] = self.control
        return out


@dataclass(frozen=True)
class Entry:
    """One cell.json key and its value (the integrity verdict, the wrk cross-check)."""

    key: str
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {self.key: self.value}


@dataclass(frozen=True)
class Measured:
    """The cell's figures: statistics over the window, monitor means, the window, the
    load's output, and what cell.json says of the load."""

    stats: CellStats
    monitor: MonitorMeans
    window: Window
    load: loadgen.LoadOutput
    scenario_load: LoadSpec
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        load, out = self.scenario_load, self.load
        return {
            "load_processes": load.load_processes,
            "load_distribution": loadgen.distribution(load),
            # Records per Locust process that ran users (its file before the merge), and
            # for a worker what it reported: users, host, pid.
            "records_per_process": out.per_process,
            "spawn_complete_at": out.spawn_complete_at,
            "warmup_start": out.records[0].t_start if out.records else None,
            "warmup_end": self.window.start,
            "measure_start": self.window.start,
            "measure_end": self.window.end,
            "locust_requests": out.locust_requests,
            "locust_failures": out.locust_failures,
            "records": len(out.records),
            "cut_off": self.stats.cut_off,
            "stalled": self.stats.stalled,
            "rejected": self.stats.rejected,
        }

    @property
    def fidelity_window(self) -> fidelity.Window:
        # The generator's own rate counts the answers a rate limit rejected too: it sent
        # and read them all (so does wrk's, beside which rps_ratio sets it).
        answered = self.stats.rps + self.stats.rejected / self.window.seconds
        return fidelity.Window(
            answered, self.monitor.locust_cpu_pct, self.window.start, self.window.end
        )


def rejected_status(stack: Stack) -> int | None:
    """The status that counts as rejected rather than failed: 429 from nginx's rate limit,
    for a stack with one (-limit<N>) only; elsewhere a 429 is an error like any other."""
    return REJECTED_STATUS if stack.limit_rps is not None else None


def measured(
    ctx: RunContext,
    cell_dir: Path,
    output: loadgen.LoadOutput,
    samples: list[Sample],
    stack: Stack,
) -> Measured:
    """The figures of a finished load: requests.csv.gz written, the measure window from
    the end of spawning + warm-up, statistics and monitor means inside it; the answers
    of the stack's rate limit counted apart (rejected_status())."""
    load = ctx.scenario.load
    write_records_gz(output.records, cell_dir / "requests.csv.gz")
    start_at = output.spawn_complete_at + load.warmup_s
    window = Window(start_at, start_at + load.measure_s)
    last = output.records[-1].t_start if output.records else 0.0
    # Locust kills the users whose request is still unanswered this long after the tail.
    stopped = f"when the load stopped (load.stop_timeout_s = {loadgen.stop_timeout_s(load)} s)"
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
    stats = cell_stats(output.records, window, rejected_status(stack))
    warnings = []
    if stats.cut_off:
        warnings.append(
            f"{stats.cut_off} request(s) sent in the measure window were still unanswered "
            f"{stopped}: raise load.stop_timeout_s; throughput and latency are lower bounds"
        )
    if stats.stalled:
        warnings.append(
            f"{stats.stalled} request(s) sent before the measure window were still in flight "
            "when it ended: their users sent nothing in the window, which leaves them out of "
            "its latency (a lower bound here); look for a full listen backlog or SYN retries"
        )
    return Measured(stats, monitor, window, output, load, tuple(warnings))


_EMPTY = CellStats(0, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
_EMPTY_MONITOR = MonitorMeans(0.0, 0.0, 0.0)


def row(
    cell: Cell,
    ctx: RunContext,
    status: str,
    started: str,
    m: Measured | None,
    fidelity_columns: dict[str, Any],
    integrity: str,
) -> dict[str, Any]:
    """The cells.csv row of a cell."""
    stack, scenario = cell.stack, ctx.scenario
    out: dict[str, Any] = {
        "run": ctx.run_id, "scenario": scenario.name, "cell": cell.id, "stack": stack.id,
        "app": stack.app.id, "framework": stack.app.framework, "interface": stack.app.interface,
        "server": stack.server.id, "worker_class": stack.server.worker_class,
        "workers": stack.workers, "threads": stack.threads, "mix": cell.mix.name,
        "users": cell.users, "round": cell.round, "cold": cell.cold, "order": cell.order,
        "status": status, "keepalive": client_keepalive(stack, scenario.services),
        "server_cpus": cpu_list(scenario.cpus.server),
        "load_cpus": cpu_list(scenario.cpus.load), "warmup_s": scenario.load.warmup_s,
        "measure_s": scenario.load.measure_s, "started_at": started,
        "window_start": m.window.start if m else None,
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
        integrity=integrity,
    )
    # The level's columns are filled in when the run ends (harness/measure/aggregates.py).
    return out | figures | fidelity_columns | dict.fromkeys(REPEAT_COLUMNS)


@dataclass
class Report:
    """The parts of one cell's cell.json in the order its steps returned them. Owned by
    the function that runs the cell; each step returns its part, none writes into it."""

    cell: Cell
    cell_dir: Path
    parts: list[Part] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, part: Part, warnings: Iterable[str] = ()) -> None:
        self.parts.append(part)
        self.warn(*warnings)

    def warn(self, *warnings: str) -> None:
        for warning in warnings:
            self.warnings.append(warning)
            print(f"warning: {self.cell.id}: {warning}")

    def add_integrity(self, verdict: integrity.Verdict | None) -> None:
        """The integrity check's part, when there was one; IntegrityError when it failed."""
        if verdict is None:
            return
        self.add(Entry("integrity", verdict.to_json()))
        if verdict.status != "ok":
            raise integrity.IntegrityError(f"data integrity check failed: {verdict.message}")

    def add_fidelity(
        self,
        ctx: RunContext,
        before: fidelity.Before,
        figures: Measured,
        noise_samples: list[noise.NoiseSample],
        speed_samples: list[cpuspeed.SpeedSample],
        wrk: dict[str, Any] | None,
    ) -> fidelity.Fidelity:
        """The fidelity part of the measured window (with wrk's rate when it ran)."""
        wrk_rps = wrk.get("rps") if wrk else None
        window = figures.fidelity_window
        fid = fidelity.figures(
            self.cell,
            ctx.scenario,
            ctx.calibration,
            before,
            window,
            noise_samples,
            speed_samples,
            wrk_rps,
        )
        self.add(fid, fid.warnings)
        return fid

    def write(self, status: str, error: str | None, extra: dict[str, Any] | None = None) -> None:
        """cell.json: every part's keys, the warnings, the status and its error."""
        data: dict[str, Any] = {}
        for part in self.parts:
            data |= part.to_json()
        data |= extra or {}
        data |= {
            "warnings": self.warnings,
            "status": status,
            "error": error,
            "ended_at": iso(utc_now()),
        }
        write_json_atomic(self.cell_dir / "cell.json", data)


def integrity_status(verdict: integrity.Verdict | None) -> str:
    """The integrity column: the verdict's status, or "n/a" where no check ran."""
    return verdict.status if verdict is not None else "n/a"


def failure(exc: BaseException) -> tuple[str, dict[str, Any]]:
    """A cell's error text and, for a bug (not a HarnessError), its traceback."""
    if isinstance(exc, HarnessError):
        return str(exc), {}
    # A bug must cost one cell, not the cells still to come; the traceback says where.
    return f"unexpected {type(exc).__name__}: {exc}", {"traceback": traceback.format_exc()}


def crosscheck_warnings(entry: dict[str, Any]) -> tuple[str, ...]:
    """The warning of a wrk cross-check that failed (it never fails the cell)."""
    error = entry.get("error")
    return (f"wrk cross-check failed: {error}",) if error else ()


def remove_partial(cell_dir: Path) -> dict[str, Any]:
    """Half-written per-process records of a broken load must not pass for results."""
    return {"partial_removed": faults.remove_partial(cell_dir)}
