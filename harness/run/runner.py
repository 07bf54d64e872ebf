"""A run: every cell of a scenario, results written as they come. The rounds design keeps
every stack up and runs the rounds' windows (run/rounds.py); the isolated design starts a
server and a Locust per cell (run/cell.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.core.errors import ScenarioError, UnwritableError
from harness.measure import crosscheck
from harness.measure.aggregates import (
    measured_rows,
    with_repeat_columns,
    write_aggregates,
    write_comparisons,
)
from harness.measure.calibration import Calibration, stored_for_run
from harness.plan.cells import Cell, cold_cells, plan_cells
from harness.plan.estimate import estimate
from harness.plan.scenario import Scenario
from harness.results.capacity import write_capacity_csv
from harness.results.environment import git_info, installed_packages, iso, machine_info, utc_now
from harness.results.files import check_room, new_run_dir, write_cells_csv, write_json_atomic
from harness.results.format import SCHEMA_VERSION
from harness.run import cpulock, faults, resume
from harness.run.capacity import run_capacity
from harness.run.cell import run_cell
from harness.run.loadgen import distribution
from harness.run.progress import Progress, progress_for, summary_table
from harness.run.rounds import Fleet, Sources, run_rounds
from harness.run.services.preflight import preflight
from harness.run.session import open_session
from harness.run.window import RunContext

Printer = Callable[[str], None]


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
        "cpu_sets": scenario.cpus.describe(),
        # How the sets were chosen (cpus = "auto" or a table) from which CPUs of the machine.
        "cpu_split": scenario.cpus.split(),
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


def check_before_run(
    scenario: Scenario, results_dir: Path, *, allow_remote: bool, resume: bool = False
) -> None:
    """Everything that refuses a run before anything starts: a target or master address
    that is not loopback (named by file and key), a missing cross-check tool or system
    binary (postgres, pgbouncer, nginx), a results folder that cannot take the run."""
    faults.require_endpoints(scenario.endpoints, allow_remote=allow_remote)
    crosscheck.require(scenario.load.crosscheck)
    preflight(scenario)
    if resume and scenario.capacity is not None:
        raise ScenarioError(
            f"{scenario.path}: a capacity search cannot resume (each step follows from the "
            "last one's windows): run it again"
        )
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
    allow_concurrent: bool | None = None,
    live: bool = False,
) -> Path:
    """Run every cell; returns the run directory. Interrupted propagates after cleanup,
    with every finished cell already in cells.csv. With resume_dir, the cells already in
    that run's cells.csv are kept and only the others run. calibration: the generator's
    ceiling measured for this run (harness.calibrate.measure_for_run), else the stored one
    is looked up; use_calibration=False: no ceiling (the calibration's own runs).
    CpusBusyError when another live run holds one of its CPUs, unless allow_concurrent
    (None: as the command around it said, harness.run.cpulock). live: progress bars with
    the window in progress and its requests/s (for a terminal) besides the lines."""
    check_before_run(
        scenario, results_dir, allow_remote=allow_remote, resume=resume_dir is not None
    )
    check_room(resume_dir or results_dir)
    with cpulock.holding(
        run_cpus(scenario), str(scenario.path), allow_concurrent=allow_concurrent
    ) as held:
        return _run(scenario, results_dir, out, resume_dir, allow_remote, calibration,
                    use_calibration, held, live)  # fmt: skip


def run_cpus(scenario: Scenario) -> list[int]:
    """Every CPU a run of the scenario pins something to (what it holds: cpulock)."""
    upstream = scenario.cpus.upstream if scenario.needs_upstream else ()
    return [*scenario.cpus.server, *scenario.cpus.load, *upstream]


def _run(
    scenario: Scenario,
    results_dir: Path,
    out: Printer,
    resume_dir: Path | None,
    allow_remote: bool,
    calibration: Calibration | None,
    use_calibration: bool,
    held: cpulock.Holding,
    live: bool,
) -> Path:
    seed = scenario.load.seed
    if seed is None and (scenario.load.rounds > 1 or scenario.load.design == "rounds"):
        seed = random.SystemRandom().randrange(2**31)
    # A capacity search plans its windows as it goes.
    planned = plan_cells(scenario, seed) if scenario.capacity is None else []
    if calibration is None and use_calibration:
        calibration = stored_for_run(scenario, results_dir, out)
    rows: list[dict[str, Any]] = []
    if resume_dir is None:
        run_id, run_dir = new_run_dir(results_dir, scenario.name)
        metadata = build_metadata(run_id, scenario, planned)
        metadata.update(
            order_seed=seed,
            design=scenario.load.design,
            rounds=scenario.load.rounds,
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
    todo = [c for c in planned if c.id not in done]
    cold = cold_cells(scenario, _starts(rows) + 1) if scenario.load.design == "rounds" else []
    held.rename(f"run {run_id} ({scenario.path})")
    write_json_atomic(run_dir / "metadata.json", metadata)
    resumed = f", {len(done)} already finished" if done else ""
    windows = f" and {len(cold)} cold windows" if cold else ""
    out(f"run {run_id}: {len(planned)} cells{windows}{resumed}, results in {run_dir}")
    for warning in scenario.warnings:
        out(f"warning: {warning}")
    upstream = scenario.cpus.upstream if scenario.needs_upstream else None
    total = len(planned) + len(cold) + len(rows) - len(done)
    if scenario.capacity is not None:
        total += estimate(scenario).cells
        metadata["capacity"] = {}
    progress = progress_for(out, total, len(rows), _guess_s(scenario), live)
    t0 = time.monotonic()

    def emit(row: dict[str, Any]) -> None:
        # A nearly full disk stops the run before the row: a window that failed for want
        # of room is not a failed cell, and --resume measures it again.
        check_room(run_dir)
        row["concurrent"] = held.others_text()
        rows.append(row)
        write_cells_csv(run_dir / "cells.csv", rows)
        write_aggregates(run_dir / "aggregates.csv", rows)
        progress.line(row)

    try:
        try:
            with open_session(
                run_id, run_dir, upstream_cpus=upstream,
                spec=scenario.services, service_cpus=scenario.cpus.server,
                tls=any(stack.tls for stack in scenario.stacks),
            ) as session:  # fmt: skip
                metadata["services"] = {
                    **scenario.services.describe(), "database": session.database,
                    "tls": session.tls.describe() if session.tls is not None else None,
                }  # fmt: skip
                ctx = RunContext(
                    run_id, scenario, run_dir, session, allow_remote=allow_remote,
                    calibration=calibration, feed=progress.feed,
                )  # fmt: skip
                if scenario.capacity is not None:
                    metadata["stacks"] = _run_rounds(
                        ctx, todo, cold, emit, out, progress,
                        lambda fleet: run_capacity(
                            ctx, fleet, emit, seed, metadata["capacity"], out
                        ),
                    )  # fmt: skip
                elif scenario.load.design == "rounds":
                    metadata["stacks"] = _run_rounds(ctx, todo, cold, emit, out, progress)
                else:
                    for cell in todo:
                        emit(run_cell(cell, ctx))
                # Every level's rounds are in: their intervals and flags go on each round.
                rows[:] = with_repeat_columns(rows, scenario.load.rounds)
                write_cells_csv(run_dir / "cells.csv", rows)
                write_comparisons(run_dir / "comparisons.csv", rows)
        finally:
            # The bars come down before the run's last words are printed.
            progress.close()
    except BaseException as exc:
        metadata["aborted"] = f"{type(exc).__name__}: {exc}"
        out(f"run stopped after {len(rows)} of {progress.total} cells; results so far: {run_dir}")
        if scenario.capacity is None:
            out(f"to finish it: python -m harness run {scenario.path} --resume {run_dir}")
        # On a full disk these writes fail too; the files keep their last whole version,
        # and the error that stopped the run is the one to report.
        with contextlib.suppress(UnwritableError):
            _close(run_dir, metadata, rows, time.monotonic() - t0, scenario)
        raise
    _close(run_dir, metadata, rows, time.monotonic() - t0, scenario)
    out(summary_table(rows))
    spent = metadata["time"]
    out(
        f"measured {spent['measured_s']:.0f} s of {spent['wall_s']:.0f} s "
        f"({spent['measured_fraction']:.0%} of the run's time)"
    )
    return run_dir


def _close(
    run_dir: Path,
    metadata: dict[str, Any],
    rows: list[dict[str, Any]],
    wall_s: float,
    scenario: Scenario,
) -> None:
    """The run's end in metadata.json (and an empty cells.csv when nothing finished); a
    capacity run's capacity.csv from what it measured."""
    metadata.update(ended_at=iso(utc_now()), cells_finished=len(rows))
    metadata["time"] = _time_spent(metadata, rows, wall_s, scenario)
    write_json_atomic(run_dir / "metadata.json", metadata)
    if scenario.capacity is not None and rows:
        write_capacity_csv(run_dir / "capacity.csv", rows, metadata.get("capacity") or {})
    if not rows:
        write_cells_csv(run_dir / "cells.csv", rows)


def _guess_s(scenario: Scenario) -> float:
    """Before the first cell has finished, the ETA assumes this much per cell."""
    return estimate(scenario).per_window_s


def _starts(rows: list[dict[str, Any]]) -> int:
    """How many times a resumed run's stacks were started (its cold windows' s<k>)."""
    found = [int(r["cell"].rsplit("__s", 1)[1]) for r in rows if "__cold__s" in str(r["cell"])]
    return max(found, default=0)


def _run_rounds(
    ctx: RunContext,
    todo: list[Cell],
    cold: list[Cell],
    emit: Callable[[dict[str, Any]], None],
    out: Printer,
    progress: Progress,
    then: Callable[[Fleet], None] | None = None,
) -> dict[str, Any]:
    """The rounds design: the stacks started once, their cold windows, then the rounds (or
    what `then` runs on the fleet: a capacity search); returns what metadata.json says of
    each stack."""
    # A capacity search plans its windows as it goes: every stack is wanted.
    wanted = {c.stack.id for c in todo} if then is None else {s.id for s in ctx.scenario.stacks}
    stacks = [s for s in ctx.scenario.stacks if s.id in wanted]
    fleet = Fleet(ctx, out)
    try:
        fleet.start(stacks)
        progress.restart_clock()
        described = {
            **{sid: {"url": up.url, "address": up.address, "launch": up.launch.to_json()}
               for sid, up in fleet.up.items()},
            **{sid: {"failed": why} for sid, why in fleet.failed.items()},
        }  # fmt: skip
        by_round: dict[int, list[Cell]] = {}
        for cell in todo:
            by_round.setdefault(cell.round, []).append(cell)
        cold = [c for c in cold if c.stack.id in wanted]
        run_rounds([cold, *by_round.values()], ctx, fleet, emit, Sources())
        if then is not None:
            then(fleet)
    finally:
        fleet.stop()
    return described


def _time_spent(
    metadata: dict[str, Any], rows: list[dict[str, Any]], wall_s: float, scenario: Scenario
) -> dict[str, float]:
    """Seconds inside the measure windows that count (ok, not cold) against the run's
    wall time (this attempt's, summed with a resumed run's earlier ones)."""
    earlier = metadata.get("time") or {}
    wall = wall_s + float(earlier.get("wall_s", 0.0))
    counted = measured_rows(rows)
    measured = len(counted) * scenario.load.measure_s
    return {
        "measured_s": round(measured, 1),
        "wall_s": round(wall, 1),
        "measured_fraction": round(measured / wall, 3) if wall > 0 else 0.0,
    }
