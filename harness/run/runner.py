"""A run: every cell of a scenario, one after the other, results written as they come."""

from __future__ import annotations

import dataclasses
import math
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.measure import crosscheck
from harness.measure.aggregates import with_repeat_columns, write_aggregates
from harness.measure.calibration import Calibration, stored_for_run
from harness.plan.cells import Cell, plan_cells
from harness.plan.scenario import Scenario
from harness.results.environment import git_info, installed_packages, iso, machine_info, utc_now
from harness.results.files import new_run_dir, write_cells_csv, write_json_atomic
from harness.results.format import SCHEMA_VERSION
from harness.run import faults, resume
from harness.run.cell import RunContext, run_cell
from harness.run.loadgen import distribution, run_time_s
from harness.run.services.preflight import preflight
from harness.run.session import open_session

Printer = Callable[[str], None]
# Before the first cell has finished, the ETA assumes this much for start and stop.
STARTUP_GUESS_S = 4.0


def build_metadata(run_id: str, scenario: Scenario, cells: list[Cell]) -> dict[str, Any]:
    """metadata.json as of the start of the run (ended_at filled in at the end)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "scenario": {
            "name": scenario.name,
            "path": str(scenario.path),
            "content": scenario.content,
        },
        "machine": machine_info(),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
        },
        "packages": installed_packages(),
        "git": git_info(),
        "cpu_sets": {
            "server": list(scenario.cpus.server),
            "load": list(scenario.cpus.load),
            "upstream": list(scenario.cpus.upstream),
        },
        "load": {
            "distribution": distribution(scenario.load),
            "processes": scenario.load.load_processes,
            "master": (
                f"{scenario.load.master_host}:{scenario.load.master_port}"
                if scenario.load.load_workers
                else None
            ),
        },
        # Stacks served by a server the user started: loaded, never started or monitored.
        "unmanaged_targets": {s.id: s.target for s in scenario.stacks if not s.managed},
        "started_at": iso(utc_now()),
        "ended_at": None,
        "cells_planned": len(cells),
        "cells_finished": 0,
        "aborted": None,
    }


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _fmt(value: Any, pattern: str) -> str:
    if isinstance(value, str):  # a row read back from cells.csv by --resume
        try:
            value = int(value) if pattern == "d" else float(value)
        except ValueError:
            return "-"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, pattern)


def _progress(i: int, total: int, row: dict[str, Any], took: float, eta: float) -> str:
    figures = (
        f"rps {_fmt(row['rps'], '.1f')}  p50 {_fmt(row['p50_ms'], '.2f')} ms  "
        f"p99 {_fmt(row['p99_ms'], '.2f')} ms  errors {_fmt(row['errors'], 'd')}"
        if row["status"] == "ok"
        else "see raw/<cell>/cell.json"
    )
    cut_off = _fmt(row.get("cut_off"), "d")
    if row["status"] == "ok" and cut_off not in ("-", "0"):
        figures += f"  cut off {cut_off} (lower bounds)"
    stalled = _fmt(row.get("stalled"), "d")
    if row["status"] == "ok" and stalled not in ("-", "0"):
        figures += f"  stalled {stalled} (latency a lower bound)"
    return (
        f"[{i}/{total}] {row['cell']}  {row['status'].upper()}  {figures}  "
        f"({took:.1f} s, ETA {_duration(eta)})"
    )


def summary_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of the finished cells."""
    header = ("stack", "mix", "users", "rep", "status", "rps", "p50_ms", "p99_ms", "errors")
    lines = [
        (
            r["stack"],
            r["mix"],
            str(r["users"]),
            str(r["repeat"]),
            r["status"],
            _fmt(r["rps"], ".1f"),
            _fmt(r["p50_ms"], ".2f"),
            _fmt(r["p99_ms"], ".2f"),
            _fmt(r["errors"], "d"),
        )
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(header, *lines, strict=True)]
    fmt_line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt_line.format(*line) for line in [header, *lines])


def check_before_run(
    scenario: Scenario, results_dir: Path, *, allow_remote: bool, resume: bool = False
) -> None:
    """Everything that refuses a run before anything starts: a target or master address
    that is not loopback (named by file and key), a missing cross-check tool or system
    binary (postgres, pgbouncer, nginx), a results folder that cannot take the run."""
    faults.require_endpoints(scenario.endpoints, allow_remote=allow_remote)
    crosscheck.require(scenario.load.crosscheck)
    preflight(scenario)
    if not resume:
        faults.ensure_writable_dir(results_dir)


def run_scenario(
    scenario: Scenario,
    results_dir: Path,
    out: Printer = print,
    *,
    resume_dir: Path | None = None,
    allow_remote: bool = False,
    calibration: Calibration | None = None,
    use_calibration: bool = True,
) -> Path:
    """Run every cell; returns the run directory. Interrupted propagates after cleanup,
    with every finished cell already in cells.csv. With resume_dir, the cells already in
    that run's cells.csv are kept and only the others run. calibration: the generator's
    ceiling measured for this run (harness.calibrate.measure_for_run), else the stored one
    is looked up; use_calibration=False: no ceiling (the calibration's own runs)."""
    check_before_run(
        scenario, results_dir, allow_remote=allow_remote, resume=resume_dir is not None
    )
    seed = scenario.load.seed
    if seed is None and scenario.load.repeats > 1:
        seed = random.SystemRandom().randrange(2**31)
    planned = plan_cells(scenario, seed)
    if calibration is None and use_calibration:
        calibration = stored_for_run(scenario, results_dir, out)
    rows: list[dict[str, Any]] = []
    if resume_dir is None:
        run_id, run_dir = new_run_dir(results_dir, scenario.name)
        metadata = build_metadata(run_id, scenario, planned)
        metadata.update(
            order_seed=seed,
            calibration=dataclasses.asdict(calibration) if calibration else None,
            crosscheck=scenario.load.crosscheck,
            crosscheck_paths=crosscheck.plans(scenario),
        )
    else:
        previous = resume.load_previous(resume_dir, scenario, planned)
        run_id, run_dir, metadata = previous.run_id, previous.run_dir, previous.metadata
        rows = previous.rows
        # The same order as the interrupted run (its seed), so the rest follows its plan.
        if metadata.get("order_seed") is not None and seed != metadata["order_seed"]:
            planned = plan_cells(scenario, metadata["order_seed"])
    done = {row["cell"] for row in rows}
    cells = [c for c in planned if c.id not in done]
    write_json_atomic(run_dir / "metadata.json", metadata)
    resumed = f", {len(done)} already finished" if done else ""
    out(f"run {run_id}: {len(planned)} cells{resumed}, results in {run_dir}")
    for warning in scenario.warnings:
        out(f"warning: {warning}")
    upstream = scenario.cpus.upstream if scenario.needs_upstream else None
    try:
        with open_session(
            run_id, run_dir, upstream_cpus=upstream,
            spec=scenario.services, service_cpus=scenario.cpus.server,
        ) as session:  # fmt: skip
            metadata["services"] = {**scenario.services.describe(), "database": session.database}
            ctx = RunContext(
                run_id, scenario, run_dir, session, allow_remote=allow_remote,
                calibration=calibration,
            )  # fmt: skip
            per_cell = STARTUP_GUESS_S + run_time_s(scenario.load)
            for i, cell in enumerate(cells, start=1):
                t0 = time.monotonic()
                rows.append(run_cell(cell, ctx))
                write_cells_csv(run_dir / "cells.csv", rows)
                write_aggregates(run_dir / "aggregates.csv", rows)
                took = time.monotonic() - t0
                per_cell = (per_cell * (i - 1) + took) / i if i > 1 else took
                eta = per_cell * (len(cells) - i)
                out(_progress(len(done) + i, len(planned), rows[-1], took, eta))
            # Every level's repeats are in: their intervals and flags go on each repeat.
            rows = with_repeat_columns(rows, scenario.load.repeats)
            write_cells_csv(run_dir / "cells.csv", rows)
    except BaseException as exc:
        metadata["aborted"] = f"{type(exc).__name__}: {exc}"
        out(f"run stopped after {len(rows)} of {len(planned)} cells; results so far: {run_dir}")
        out(f"to finish it: python -m harness run {scenario.path} --resume {run_dir}")
        raise
    finally:
        metadata.update(ended_at=iso(utc_now()), cells_finished=len(rows))
        write_json_atomic(run_dir / "metadata.json", metadata)
        if not rows:
            write_cells_csv(run_dir / "cells.csv", rows)
    out(summary_table(rows))
    return run_dir
