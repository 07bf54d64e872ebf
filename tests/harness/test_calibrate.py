"""A real (shortened) calibration: both ceilings measured, stored, found again by a run,
kept in its metadata.json, and every cell's ceiling_fraction computed from it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness import calibrate
from harness.measure import calibration
from harness.plan.scenario import parse_scenario
from harness.run.runner import run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.cpus]


def scenario_data(name: str) -> dict[str, object]:
    return {
        "name": name,
        "load": {
            "client": "lean", "warmup_s": 0.5, "measure_s": 1.5, "users": [4],
            "spawn_margin_s": 5, "stop_timeout_s": 1, "time_wait_drain_s": 5,
        },
        "stacks": [{"apps": ["raw-asgi"], "servers": ["uvicorn"]}],
        "mixes": {"json": {"json": 1}},
    }  # fmt: skip


def test_calibration_is_measured_stored_and_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calibrate, "CALIBRATION_USERS", [8])
    monkeypatch.setattr(calibrate, "CALIBRATION_WARMUP_S", 0.3)
    monkeypatch.setattr(calibrate, "CALIBRATION_MEASURE_S", 1.0)
    sc = parse_scenario(scenario_data("cal"), "test", tmp_path / "cal.toml")
    lines: list[str] = []
    cal = calibrate.measure_calibration(sc, lines.append, work_dir=tmp_path)
    assert cal.keepalive_rps > 0 and cal.close_rps > 0, lines
    assert cal.client == "lean" and cal.load_cpus == "0" and cal.server_cpus == "1"
    assert cal.stacks["keepalive"] == "raw-asgi@granian-asgi-w1"
    assert cal.stacks["close"].startswith("raw-wsgi@uwsgi-w1")
    results = tmp_path / "results"
    calibration.store_calibration(cal, results)
    assert calibration.find_calibration(sc, results) == cal
    run_dir = run_scenario(sc, results, out=lines.append)
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert metadata["calibration"]["key"] == cal.key
    with (run_dir / "cells.csv").open(newline="") as f:
        (row,) = [r for r in csv.DictReader(f) if r["cold"] != "true"]
    assert row["status"] == "ok"
    expected = float(row["rps"]) / cal.keepalive_rps
    assert float(row["ceiling_fraction"]) == pytest.approx(expected, abs=1e-5)


def test_the_calibration_runs_as_many_locust_processes_as_the_scenario() -> None:
    # cpus = "auto" in the isolated design gives Locust a process per load CPU (here 2):
    # the calibration's scenarios keep them, and the design that allows them.
    data = {**scenario_data("cal"), "cpus": "auto"}
    data["load"] = {**data["load"], "design": "isolated"}
    sc = parse_scenario(data, "test", Path("cal.toml"), machine=[0, 1, 2, 3])
    assert sc.load.processes == 2
    for app, server in (calibrate.KEEPALIVE_STACK, calibrate.CLOSE_STACK):
        own = calibrate._scenario_dict(sc, app, server)
        cal = parse_scenario(own, "calibration", Path("cal.toml"), machine=[0, 1, 2, 3])
        assert (cal.load.processes, cal.load.design) == (2, "isolated")
        assert (cal.cpus.server, cal.cpus.load) == ((2, 3), (0, 1))
