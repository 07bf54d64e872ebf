"""Per-cell fidelity figures: was the load generator the limit, how close to its calibrated
ceiling, what wrk measured, and how noisy the machine was. cell.py calls these hooks;
the figures become the FIDELITY_COLUMNS of cells.csv and a "fidelity" entry in cell.json.

generator_bound = Locust's CPU >= 90% of the load CPUs' capacity (len(load CPUs) x 100%,
from the monitor's samples of every Locust process), or Locust's demand (running + waiting
for a CPU, from /proc/<pid>/schedstat) >= 90% of that capacity, or rps >= 90% of the
calibrated ceiling for the cell's keep-alive mode. The keep-alive mode is what the client
sees: nginx's when the stack is proxied (harness.run.services.front.client_keepalive), else
the server's. The demand criterion matters on a
shared machine: a Locust starved of CPU by other processes never idles, yet its CPU share
stays low. Locust's own CPU warning is not used: it watches only its own process.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.procs import ProcessRegistry
from harness.measure import cpuspeed, crosscheck, noise
from harness.measure.calibration import CEILING_MARGIN, Calibration
from harness.plan.cells import Cell
from harness.plan.scenario import Scenario
from harness.plan.services import client_keepalive
from harness.results.format import FIDELITY_COLUMNS, PORT_RANGE_HALF

LOAD_CPU_BOUND = 0.90


@dataclass(frozen=True)
class Before:
    """State of the machine just before a cell: the TIME_WAIT sockets its connections could
    collide with, and any wait for them to drain."""

    drain: noise.Drain
    port_range_used_fraction: float
    warnings: tuple[str, ...] = ()

    @property
    def ports_half_used(self) -> bool:
        return self.port_range_used_fraction >= PORT_RANGE_HALF

    def columns(self) -> dict[str, Any]:
        return {
            "time_wait_start": self.drain.start,
            "port_range_used_fraction": round(self.port_range_used_fraction, 4),
        }

    def to_json(self) -> dict[str, Any]:
        fraction = round(self.port_range_used_fraction, 4)
        return {"time_wait": asdict(self.drain) | {"port_range_used_fraction": fraction}}


def cell_keepalive(cell: Cell, scenario: Scenario) -> bool:
    """Whether the cell's clients keep their connections open: nginx's setting when the
    stack is proxied, else the server's (the app server's own setting only matters to
    nginx's connections, not to the load generator's)."""
    return client_keepalive(cell.stack, scenario.services)


def before_cell(cell: Cell, scenario: Scenario, pair: tuple[str, str] | None = None) -> Before:
    """Count the TIME_WAIT sockets. With pair (the window's client and server addresses,
    the rounds design), only those between them, and no wait: a fresh pair has none.
    Else, before a cell without keep-alive, wait (up to load.time_wait_drain_s) for the
    machine's to fall below 25% of the local port range."""
    ports = noise.port_range_size()
    drain = noise.drain_time_wait(
        needed=pair is None and not cell_keepalive(cell, scenario),
        below=round(ports * noise.TIME_WAIT_DRAIN_FRACTION),
        max_s=scenario.load.time_wait_drain_s,
        count=lambda: noise.time_wait_now(pair=pair),
    )
    used = drain.start / ports
    warnings = []
    if drain.not_drained:
        warnings.append(f"TIME_WAIT not drained: {drain.not_drained}")
    if used >= PORT_RANGE_HALF:
        warnings.append(
            f"{drain.start} sockets in TIME_WAIT: {used:.0%} of the local port range used "
            "at the start; connects may fail or stall"
        )
    return Before(drain, used, tuple(warnings))


def load_capacity_pct(locust_cpu_pct: float, load_cpus: int) -> float:
    """Locust's CPU as a percentage of what its CPU set can give (n CPUs x 100%)."""
    return locust_cpu_pct / (100.0 * max(1, load_cpus)) * 100.0


def is_generator_bound(
    capacity_pct: float, ceiling_fraction: float | None, busy_pct: float = math.nan
) -> bool:
    """CPU or demand >= 90% of the load CPUs, or within 10% of the calibrated ceiling."""
    cpu_bound = any(
        not math.isnan(p) and p >= LOAD_CPU_BOUND * 100 for p in (capacity_pct, busy_pct)
    )
    near_ceiling = ceiling_fraction is not None and ceiling_fraction >= 1 - CEILING_MARGIN
    return cpu_bound or near_ceiling


def empty_figures(before: Before | None, target_rps: int | None = None) -> dict[str, Any]:
    """The fidelity columns of a failed cell: what was known before it started."""
    row: dict[str, Any] = dict.fromkeys(FIDELITY_COLUMNS)
    row["target_rps"] = target_rps
    if before is not None:
        row |= before.columns()
    return row


@dataclass(frozen=True)
class Fidelity:
    """The fidelity columns of a measured cell, its warnings and the calibration used."""

    columns: dict[str, Any]
    warnings: tuple[str, ...] = ()
    calibration: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        figures = {k: self.columns[k] for k in FIDELITY_COLUMNS}
        return {"fidelity": figures, "calibration": self.calibration}


@dataclass(frozen=True)
class Window:
    """What fidelity needs of a measured window: its rate, Locust's CPU, its bounds."""

    rps: float
    locust_cpu_pct: float
    start: float
    end: float


def figures(
    cell: Cell,
    scenario: Scenario,
    calibration: Calibration | None,
    before: Before,
    window: Window,
    noise_samples: list[noise.NoiseSample],
    speed_samples: list[cpuspeed.SpeedSample],
    wrk_rps: float | None = None,
) -> Fidelity:
    """The fidelity columns of a measured window and the warnings they raise."""
    load_cpus = scenario.cpus.load
    noise_figures = noise.noise_means(noise_samples, window.start, window.end)
    capacity = load_capacity_pct(window.locust_cpu_pct, len(load_cpus))
    busy = load_capacity_pct(noise_figures.locust_busy_pct, len(load_cpus))
    if scenario.load.load_workers:
        # Workers on other hosts are not sampled here: only the calibrated ceiling judges.
        capacity = busy = math.nan
    fraction = (
        calibration.fraction(window.rps, cell_keepalive(cell, scenario)) if calibration else None
    )
    bound = is_generator_bound(capacity, fraction, busy)
    managed = cell.stack.managed
    server_soft, server_steal = (
        noise.kernel_shares(noise_samples, scenario.cpus.server, window.start, window.end)
        if managed
        else (math.nan, math.nan)
    )
    load_soft, load_steal = noise.kernel_shares(noise_samples, load_cpus, window.start, window.end)
    row = empty_figures(before, cell.target_rps) | {
        "generator_bound": bound,
        "load_cpu_pct_of_capacity": capacity,
        "load_busy_pct_of_capacity": busy,
        "ceiling_fraction": fraction,
        "rps_wrk": wrk_rps,
        "rps_ratio": window.rps / wrk_rps if wrk_rps else None,
        "other_cpu_pct": noise_figures.other_cpu_pct,
        "load_avg_1m": noise_figures.load_avg_1m,
        "noisy": noise_figures.noisy,
        **speed_figures(cell, scenario, speed_samples, window.start, window.end),
        "server_softirq_pct": server_soft,
        "server_steal_pct": server_steal,
        "load_softirq_pct": load_soft,
        "load_steal_pct": load_steal,
    }
    if scenario.load.crosscheck is not None:
        row |= crosscheck.mix_plan(cell.mix).columns()
    warnings = []
    if bound:
        why = [f"Locust at {capacity:.0f}% of its CPUs, busy {busy:.0f}%"]
        if fraction is not None:
            why.append(f"{fraction:.0%} of the calibrated ceiling")
        warnings.append(f"generator-bound ({', '.join(why)}): the load generator was the limit")
    if noise_figures.noisy:
        warnings.append(
            f"noisy: other processes used {noise_figures.other_cpu_pct:.0f}% of a core "
            f"(load average {noise_figures.load_avg_1m:.2f})"
        )
    return Fidelity(row, tuple(warnings), calibration.key if calibration else None)


def speed_figures(
    cell: Cell, scenario: Scenario, samples: list[cpuspeed.SpeedSample], start: float, end: float
) -> dict[str, float]:
    """server_cpu_speed / load_cpu_speed: the probe's median speed on those CPUs in the
    window, loop iterations per µs (harness/measure/cpuspeed.py); the server's is NaN for a
    server the harness does not run."""
    server = (
        cpuspeed.speed(samples, scenario.cpus.server, start, end)
        if cell.stack.managed
        else math.nan
    )
    return {
        "server_cpu_speed": server,
        "load_cpu_speed": cpuspeed.speed(samples, scenario.cpus.load, start, end),
    }


def crosscheck_cell(
    cell: Cell, scenario: Scenario, procs: ProcessRegistry, url: str, cell_dir: Path
) -> dict[str, Any] | None:
    """With load.crosscheck = "wrk": drive the mix's GET paths with wrk while the server
    still runs (after Locust's window); returns cell.json's "crosscheck" entry (None when
    off). A wrk failure is recorded, never fails the cell."""
    if scenario.load.crosscheck is None:
        return None
    plan = crosscheck.mix_plan(cell.mix)
    if not plan.paths:
        return {"tool": "wrk", "skipped": "no GET path in the mix", "left_out": list(plan.left_out)}
    try:
        result = crosscheck.run_wrk(
            procs, url, plan, cell.users, scenario.load.measure_s, scenario.cpus.load, cell_dir,
            close=not scenario.services.client_keepalive,
        )  # fmt: skip
    except HarnessError as exc:
        return {"tool": "wrk", "error": str(exc)}
    return {"tool": "wrk"} | asdict(result)


def probe_cpus(cell: Cell, scenario: Scenario) -> tuple[int, ...]:
    """The CPUs whose speed a cell records: the load CPUs, and the server CPUs when the
    harness runs the server (they also hold nginx and the database when there are any)."""
    cpus = set(scenario.cpus.load)
    if cell.stack.managed:
        cpus |= set(scenario.cpus.server)
    return tuple(sorted(cpus))
