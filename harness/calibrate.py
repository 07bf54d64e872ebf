"""The load generator's ceiling: the most requests/s the scenario's client drives from the
load CPUs against the cheapest stacks, with keep-alive and with a new connection per request.

Stacks (justification): raw-asgi on granian-asgi answers GET /json with the least server
work of every stack here (wrk measured 36k requests/s against it from one core, against
~10k for Locust's FastHttpUser), so Locust, not the server, is the limit with keep-alive.
Without keep-alive, raw-wsgi on uWSGI (which closes every connection) is the cheapest
stack: wrk reached 8.4-9.0k there while Locust stays lower. GET /json only: the cheapest
endpoint with a body, the one every mix uses.

Stored in results/calibration.json, keyed by machine + CPU sets + client, so a run on the
same machine and pinning reuses it; a run's metadata.json keeps the calibration it used.
"""

from __future__ import annotations

import csv
import json
import socket
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.procs import cpu_list
from harness.results import DEFAULT_RESULTS_DIR, iso, machine_info, utc_now, write_json_atomic
from harness.scenario import Scenario, parse_scenario

CALIBRATION_FILE = "calibration.json"
KEEPALIVE_STACK = ("raw-asgi", "granian-asgi")
CLOSE_STACK = ("raw-wsgi", "uwsgi")
CALIBRATION_USERS = [16, 64]
# Within this fraction of the ceiling, a cell is taken as generator-bound.
CEILING_MARGIN = 0.10


class CalibrationError(HarnessError):
    """The calibration could not be measured or read."""


@dataclass(frozen=True)
class Calibration:
    key: str
    client: str
    server_cpus: str
    load_cpus: str
    keepalive_rps: float
    close_rps: float
    measured_at: str
    stacks: dict[str, str]
    users: list[int]
    # Other processes used more than 10% of a core during a calibration cell: the ceiling
    # is then too low, and cells of quiet runs will look generator-bound.
    noisy: bool = False

    def ceiling(self, keepalive: bool) -> float:
        return self.keepalive_rps if keepalive else self.close_rps

    def fraction(self, rps: float, keepalive: bool) -> float | None:
        ceiling = self.ceiling(keepalive)
        return rps / ceiling if ceiling > 0 else None


def calibration_key(client: str, server_cpus: tuple[int, ...], load_cpus: tuple[int, ...]) -> str:
    m = machine_info()
    return (
        f"{socket.gethostname()}|{m['cpu_model']}|{m['cores']} cores|server {cpu_list(server_cpus)}"
        f"|load {cpu_list(load_cpus)}|{client}"
    )


def _key_for(scenario: Scenario) -> str:
    key = calibration_key(scenario.load.client, scenario.cpus.server, scenario.cpus.load)
    # Several Locust processes share the load CPUs: a ceiling of its own.
    return key + (f"|processes {scenario.load.processes}" if scenario.load.processes > 1 else "")


def _read_all(results_dir: Path) -> dict[str, Any]:
    path = results_dir / CALIBRATION_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"{path}: unreadable calibration file: {exc}") from exc
    return data if isinstance(data, dict) else {}


def find_calibration(
    scenario: Scenario, results_dir: Path = DEFAULT_RESULTS_DIR
) -> Calibration | None:
    """The stored calibration for this machine, CPU sets and client, if any."""
    entry = _read_all(results_dir).get(_key_for(scenario))
    if not isinstance(entry, dict):
        return None
    try:
        return Calibration(**entry)
    except TypeError:
        return None


def store_calibration(cal: Calibration, results_dir: Path = DEFAULT_RESULTS_DIR) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    data = _read_all(results_dir)
    data[cal.key] = asdict(cal)
    path = results_dir / CALIBRATION_FILE
    write_json_atomic(path, data)
    return path


def _scenario_dict(base: Scenario, app: str, server: str) -> dict[str, Any]:
    return {
        "name": f"calibrate-{server}",
        "description": f"generator ceiling: {app} on {server}, GET /json",
        "load": {
            "locustfile": base.load.locustfile.name,
            "client": base.load.client,
            "warmup_s": 1,
            "measure_s": 3,
            "users": CALIBRATION_USERS,
            "repeats": 1,
            "spawn_margin_s": 10,
            "stop_timeout_s": 1,
            "time_wait_drain_s": base.load.time_wait_drain_s,
            "processes": base.load.processes,
        },
        "cpus": {"server": list(base.cpus.server), "load": list(base.cpus.load)},
        "stacks": [{"apps": [app], "servers": [server], "workers": [1]}],
        "mixes": {"json": {"json": 1}},
    }


def _best_rps(run_dir: Path) -> tuple[float, bool, str]:
    """The highest rps of the run's cells, whether any of them was noisy, the stack id."""
    with (run_dir / "cells.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok" and r["rps"]]
    if not rows:
        raise CalibrationError(f"no calibration cell succeeded (see {run_dir}/raw/)")
    noisy = any(r.get("noisy") == "true" for r in rows)
    return max(float(r["rps"]) for r in rows), noisy, rows[0]["stack"]


def measure_calibration(
    scenario: Scenario, out: Callable[[str], None] = print, work_dir: Path | None = None
) -> Calibration:
    """Measure both ceilings with real runs of the harness (a few cells, about a minute)."""
    from harness.runner import run_scenario  # the runner imports this module

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
        key=_key_for(scenario),
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


def for_run(
    scenario: Scenario, results_dir: Path, out: Callable[[str], None]
) -> Calibration | None:
    """The calibration a run uses: measured now with load.calibrate = true (and stored),
    else the stored one for this machine, CPU sets and client (results_dir first, then
    the default results directory), else None (ceiling_fraction stays empty).
    Workers started by hand elsewhere have no ceiling measured here: None."""
    if scenario.load.workers:
        out(
            "load.workers: the workers run elsewhere, so no calibrated ceiling applies "
            "(ceiling_fraction stays empty; calibrate on a worker host with load.processes)"
        )
        return None
    if scenario.load.calibrate:
        cal = measure_calibration(scenario, out)
        store_calibration(cal, results_dir)
        return cal
    for where in dict.fromkeys([results_dir, DEFAULT_RESULTS_DIR]):
        found = find_calibration(scenario, where)
        if found is not None:
            if found.noisy:
                out(
                    f"warning: the calibration of {found.measured_at} was measured while other "
                    "processes used the CPUs: its ceiling is low (recalibrate on a quiet machine)"
                )
            return found
    out(
        "no calibration for this machine, CPU sets and client: ceiling_fraction stays empty "
        "(python -m harness calibrate)"
    )
    return None
