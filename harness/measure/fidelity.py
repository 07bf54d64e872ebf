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
from dataclasses import asdict, dataclass
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
    """State of the machine just before a cell."""

    drain: noise.Drain
    port_range_used_fraction: float

    @property
    def ports_half_used(self) -> bool:
        return self.port_range_used_fraction >= PORT_RANGE_HALF


def cell_keepalive(cell: Cell, scenario: Scenario) -> bool:
    """Whether the cell's clients keep their connections open: nginx's setting when the
    stack is proxied, else the server's (the app server's own setting only matters to
    nginx's connections, not to the load generator's)."""
    return client_keepalive(cell.stack, scenario.services)


def before_cell(cell: Cell, scenario: Scenario, info: dict[str, Any]) -> Before:
    """Count TIME_WAIT sockets; before a cell without keep-alive, wait (up to
    load.time_wait_drain_s) for them to fall below 25% of the local port range."""
    ports = noise.port_range_size()
    drain = noise.drain_time_wait(
        needed=not cell_keepalive(cell, scenario),
        below=round(ports * noise.TIME_WAIT_DRAIN_FRACTION),
        max_s=scenario.load.time_wait_drain_s,
    )
    used = drain.start / ports
    before = Before(drain, used)
    warnings = info.setdefault("warnings", [])
    if drain.not_drained:
        warnings.append(f"TIME_WAIT not drained: {drain.not_drained}")
    if before.ports_half_used:
        warnings.append(
            f"{drain.start} sockets in TIME_WAIT: {used:.0%} of the local port range used "
            "at the start; connects may fail or stall"
        )
    info["time_wait"] = asdict(drain) | {"port_range_used_fraction": round(used, 4)}
    for w in warnings:
        print(f"warning: {cell.id}: {w}")
    return before


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
        row["time_wait_start"] = before.drain.start
        row["port_range_used_fraction"] = round(before.port_range_used_fraction, 4)
    return row


def cell_figures(
    cell: Cell,
    scenario: Scenario,
    calibration: Calibration | None,
    rps: float,
    locust_cpu_pct: float,
    rps_wrk: float | None,
    noise_figures: noise.NoiseFigures,
    before: Before,
    info: dict[str, Any],
) -> dict[str, Any]:
    """The fidelity columns of a measured cell; warnings go to info and stdout."""
    capacity = load_capacity_pct(locust_cpu_pct, len(scenario.cpus.load))
    busy = load_capacity_pct(noise_figures.locust_busy_pct, len(scenario.cpus.load))
    if scenario.load.load_workers:
        # Workers on other hosts are not sampled here: only the calibrated ceiling judges.
        capacity = busy = math.nan
    keepalive = cell_keepalive(cell, scenario)
    fraction = calibration.fraction(rps, keepalive) if calibration else None
    bound = is_generator_bound(capacity, fraction, busy)
    row = empty_figures(before, cell.target_rps) | {
        "generator_bound": bound,
        "load_cpu_pct_of_capacity": capacity,
        "load_busy_pct_of_capacity": busy,
        "ceiling_fraction": fraction,
        "rps_wrk": rps_wrk,
        "rps_ratio": rps / rps_wrk if rps_wrk else None,
        "other_cpu_pct": noise_figures.other_cpu_pct,
        "load_avg_1m": noise_figures.load_avg_1m,
        "noisy": noise_figures.noisy,
    }
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
    info.setdefault("warnings", []).extend(warnings)
    info["fidelity"] = {k: row[k] for k in FIDELITY_COLUMNS}
    info["calibration"] = calibration.key if calibration else None
    for w in warnings:
        print(f"warning: {cell.id}: {w}")
    return row


def crosscheck_cell(
    cell: Cell,
    scenario: Scenario,
    procs: ProcessRegistry,
    url: str,
    cell_dir: Path,
    info: dict[str, Any],
) -> None:
    """With load.crosscheck = "wrk": drive the mix's GET paths with wrk while the server
    still runs (after Locust ended). A wrk failure is recorded, never fails the cell."""
    if scenario.load.crosscheck is None:
        return
    plan = crosscheck.mix_plan(cell.mix)
    if not plan.paths:
        info["crosscheck"] = {
            "tool": "wrk", "skipped": "no GET path in the mix", "left_out": list(plan.left_out)
        }  # fmt: skip
        return
    try:
        result = crosscheck.run_wrk(
            procs, url, plan, cell.users, scenario.load.measure_s, scenario.cpus.load, cell_dir
        )
    except HarnessError as exc:
        info["crosscheck"] = {"tool": "wrk", "error": str(exc)}
        print(f"warning: {cell.id}: wrk cross-check failed: {exc}")
        return
    info["crosscheck"] = {"tool": "wrk"} | asdict(result)


def probe_cpus(cell: Cell, scenario: Scenario) -> tuple[int, ...]:
    """The CPUs whose speed a cell records: the load CPUs, and the server CPUs when the
    harness runs the server (they also hold nginx and the database when there are any)."""
    cpus = set(scenario.cpus.load)
    if cell.stack.managed:
        cpus |= set(scenario.cpus.server)
    return tuple(sorted(cpus))


def speed_figures(
    cell: Cell, scenario: Scenario, samples: list[cpuspeed.SpeedSample], start: float, end: float
) -> dict[str, Any]:
    """server_cpu_speed / load_cpu_speed: the probe's median speed on those CPUs in the
    window, loop iterations per µs (harness/measure/cpuspeed.py); the server's is NaN for a server
    the harness does not run."""
    server = (
        cpuspeed.speed(samples, scenario.cpus.server, start, end)
        if cell.stack.managed
        else math.nan
    )
    return {
        "server_cpu_speed": server,
        "load_cpu_speed": cpuspeed.speed(samples, scenario.cpus.load, start, end),
    }


def row_figures(
    cell: Cell,
    scenario: Scenario,
    calibration: Calibration | None,
    before: Before | None,
    noise_samples: list[noise.NoiseSample],
    info: dict[str, Any],
    measured: tuple[float, float, float, float] | None,
    speed_samples: list[cpuspeed.SpeedSample] | None = None,
) -> dict[str, Any]:
    """The fidelity columns; measured = (rps, locust_cpu_pct, window start, window end)
    or None for a failed cell; speed_samples: the CPU speed probe's."""
    if measured is None or before is None:
        return empty_figures(before, cell.target_rps)
    rps, locust_cpu, start, end = measured
    wrk = info.get("crosscheck") or {}
    row = cell_figures(
        cell, scenario, calibration, rps, locust_cpu, wrk.get("rps"),
        noise.noise_means(noise_samples, start, end), before, info,
    )  # fmt: skip
    speeds = speed_figures(cell, scenario, speed_samples or [], start, end)
    row |= speeds
    info["fidelity"] |= speeds
    if scenario.load.crosscheck is not None:
        driven = crosscheck.mix_plan(cell.mix).columns()
        row |= driven
        info["fidelity"] |= driven
    return row
