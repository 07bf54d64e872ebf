"""The load generator's calibrated ceiling as a record: the most requests/s the scenario's
client drove from the load CPUs against the cheapest stacks, with keep-alive and with a
new connection per request (harness/calibrate.py measures it).

Stored in results/calibration.json, keyed by machine + CPU sets + client, so a run on the
same machine and pinning reuses it; a run's metadata.json keeps the calibration it used.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.procs import cpu_list
from harness.plan.scenario import Scenario
from harness.results.environment import machine_info
from harness.results.files import write_json_atomic
from harness.results.runs import DEFAULT_RESULTS_DIR

CALIBRATION_FILE = "calibration.json"
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


def key_for(scenario: Scenario) -> str:
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
    entry = _read_all(results_dir).get(key_for(scenario))
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


def stored_for_run(
    scenario: Scenario, results_dir: Path, out: Callable[[str], None]
) -> Calibration | None:
    """The stored calibration a run uses for this machine, CPU sets and client
    (results_dir first, then the default results directory), else None (ceiling_fraction
    stays empty). Workers started by hand elsewhere have no ceiling measured here: None."""
    if scenario.load.load_workers:
        out(
            "load.load_workers: the workers run elsewhere, so no calibrated ceiling applies "
            "(ceiling_fraction stays empty; calibrate on a worker host with load.processes)"
        )
        return None
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
