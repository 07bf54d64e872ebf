"""Measuring the load generator's ceiling (the record, its storage and lookup live in
harness/measure/calibration.py): real runs of the harness against the cheapest stacks.

Stacks (justification): raw-asgi on granian-asgi answers GET /json with the least server
work of every stack here (wrk measured 36k requests/s against it from one core, against
~10k for Locust's FastHttpUser), so Locust, not the server, is the limit with keep-alive.
Without keep-alive, raw-wsgi on uWSGI (which closes every connection) is the cheapest
stack: wrk reached 8.4-9.0k there while Locust stays lower. GET /json only: the cheapest
endpoint with a body, the one every mix uses.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.core.procs import cpu_list
from harness.measure.calibration import Calibration, CalibrationError, key_for, store_calibration
from harness.plan.scenario import Scenario, parse_scenario
from harness.results.environment import iso, utc_now
from harness.run.runner import run_scenario

KEEPALIVE_STACK = ("raw-asgi", "granian-asgi")
CLOSE_STACK = ("raw-wsgi", "uwsgi")
CALIBRATION_USERS = [16, 64]
# Each calibration window: warm-up, then the measure window (seconds).
CALIBRATION_WARMUP_S = 1.0
CALIBRATION_MEASURE_S = 3.0


def _scenario_dict(base: Scenario, app: str, server: str) -> dict[str, Any]:
    return {
        "name": f"calibrate-{server}",
        "description": f"generator ceiling: {app} on {server}, GET /json",
        "load": {
            "locustfile": base.load.locustfile.name,
            "client": base.load.client,
            "warmup_s": CALIBRATION_WARMUP_S,
            "measure_s": CALIBRATION_MEASURE_S,
            "users": CALIBRATION_USERS,
            "rounds": 1,
            "spawn_margin_s": 10,
            "stop_timeout_s": 1,
            "time_wait_drain_s": base.load.time_wait_drain_s,
            # Locust's processes > 1 need the isolated design (cpus = "auto" sets them there).
            "processes": base.load.processes,
            "design": base.load.design,
        },
        "cpus": {"server": list(base.cpus.server), "load": list(base.cpus.load)},
        "stacks": [{"apps": [app], "servers": [server], "workers": [1]}],
        "mixes": {"json": {"json": 1}},
    }


def _best_rps(run_dir: Path) -> tuple[float, bool, str]:
    """The highest rps of the run's cells, whether any of them was noisy, the stack id."""
    with (run_dir / "cells.csv").open(newline="") as f:
        rows = [
            r for r in csv.DictReader(f)
            if r["status"] == "ok" and r["rps"] and r["cold"] != "true"
        ]  # fmt: skip
    if not rows:
        raise CalibrationError(f"no calibration cell succeeded (see {run_dir}/raw/)")
    noisy = any(r.get("noisy") == "true" for r in rows)
    return max(float(r["rps"]) for r in rows), noisy, rows[0]["stack"]


def measure_calibration(
    scenario: Scenario, out: Callable[[str], None] = print, work_dir: Path | None = None
) -> Calibration:
    """Measure both ceilings with real runs of the harness (a few cells, about a minute)."""
    ceilings: dict[str, float] = {}
    stacks: dict[str, str] = {}
    noisy = False
    with tempfile.TemporaryDirectory(prefix="pwb-calibrate-", dir=work_dir) as tmp:
        for mode, (app, server) in (("keepalive", KEEPALIVE_STACK), ("close", CLOSE_STACK)):
            data = _scenario_dict(scenario, app, server)
            sc = parse_scenario(data, f"calibration ({mode})", scenario.path)
            out(f"calibrate: {mode}: {app} on {server}, users {CALIBRATION_USERS}")
            run_dir = run_scenario(sc, Path(tmp), out=lambda _line: None, use_calibration=False)
            ceilings[mode], was_noisy, stacks[mode] = _best_rps(run_dir)
            noisy = noisy or was_noisy
            out(f"calibrate: {mode} ceiling {ceilings[mode]:.0f} requests/s")
    return Calibration(
        key=key_for(scenario),
        client=scenario.load.client,
        server_cpus=cpu_list(scenario.cpus.server),
        load_cpus=cpu_list(scenario.cpus.load),
        keepalive_rps=round(ceilings["keepalive"], 1),
        close_rps=round(ceilings["close"], 1),
        measured_at=iso(utc_now()),
        stacks=stacks,
        users=list(CALIBRATION_USERS),
        noisy=noisy,
    )


def measure_for_run(
    scenario: Scenario, results_dir: Path, out: Callable[[str], None]
) -> Calibration | None:
    """With load.calibrate = true: the calibration measured now (and stored) for the run
    about to start; else None, and the run looks up the stored one."""
    if not scenario.load.calibrate or scenario.load.load_workers:
        return None
    cal = measure_calibration(scenario, out)
    store_calibration(cal, results_dir)
    return cal
