"""Open loop, a real tiny run: a rate the pool can keep is achieved; one it cannot keep is
reported below target, with latencies counted from the intended send times (so they grow
with the backlog instead of staying at the server's 50 ms)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from harness.core.errors import ScenarioError
from harness.plan.cells import plan_cells
from harness.plan.scenario import load_scenario
from tests.conftest import run_harness

pytestmark = [pytest.mark.slow, pytest.mark.cpus]

OPEN = """
name = "fid-open"
description = "50 ms sleeps on uvicorn at fixed arrival rates, a pool of 8 users"
[load]
mode = "open"
rates = [40, 200]
users = [8]
warmup_s = 1
measure_s = 2
spawn_margin_s = 5
stop_timeout_s = 1
[[stacks]]
apps = ["raw-asgi"]
servers = ["uvicorn"]
[mixes.io]
sleep = 1
[mixes.io.params]
sleep_ms = 50
"""


def test_open_mode_plans_one_cell_per_rate(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(OPEN)
    cells = plan_cells(load_scenario(path))
    assert [(c.users, c.target_rps) for c in cells] == [(8, 40), (8, 200)]
    assert cells[0].id == "raw-asgi@uvicorn-w1__io__q40__r1"
    path.write_text(OPEN.replace("users = [8]", "users = [8, 16]"))
    with pytest.raises(ScenarioError, match="pool of users"):
        load_scenario(path)
    path.write_text(OPEN.replace('mode = "open"', ""))
    with pytest.raises(ScenarioError, match=r"load\.rates"):
        load_scenario(path)


def test_open_loop_reports_achieved_rate_and_charges_the_backlog(tmp_path: Path) -> None:
    scenario = tmp_path / "open.toml"
    scenario.write_text(OPEN)
    results = tmp_path / "results"
    done = run_harness("run", str(scenario), "--results-dir", str(results), timeout=180)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    with (run_dir / "cells.csv").open(newline="") as f:
        rows = {r["target_rps"]: r for r in csv.DictReader(f) if r["cold"] != "true"}
    kept, over = rows["40"], rows["200"]
    assert kept["status"] == over["status"] == "ok"
    assert (kept["target_rps"], over["target_rps"]) == ("40", "200")
    # 8 users x 50 ms answers can carry at most 160 requests/s.
    assert float(kept["rps"]) == pytest.approx(40, rel=0.2), kept
    assert float(over["rps"]) < 0.9 * 200, over
    # Behind schedule, each request waits for the ones before it: from the intended send
    # time, latency grows far past the server's 50 ms.
    assert float(over["p99_ms"]) > 3 * 50, over
    assert float(over["p99_ms"]) > 2 * float(kept["p99_ms"]), (kept, over)
