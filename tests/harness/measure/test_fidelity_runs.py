"""Real tiny runs: a stack faster than the generator is flagged generator-bound, a slow one
is not; wrk cross-checks the cell, driving a mix's GET paths by weight; rounds give
aggregates.csv with intervals and their confidence."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.results.format import AGGREGATE_COLUMNS, CELL_COLUMNS, REPEAT_COLUMNS
from tests.conftest import need, run_harness

pytestmark = [pytest.mark.slow, pytest.mark.cpus, pytest.mark.alone]

FAST = """
name = "fid-fast"
description = "raw ASGI on uvicorn, many users: Locust is the limit"
[load]
client = "fasthttp"
warmup_s = 1
measure_s = 2
users = [64]
spawn_margin_s = 5
stop_timeout_s = 1
crosscheck = "wrk"
[cpus]
server = [1]
load = [0]
[[stacks]]
apps = ["raw-asgi"]
servers = ["uvicorn"]
[mixes.json]
json = 1
"""

SLOW = """
name = "fid-slow"
description = "50 ms sleeps on one sync worker: the server is the limit"
[load]
warmup_s = 1
measure_s = 2
users = [4]
rounds = 2
seed = 5
spawn_margin_s = 5
stop_timeout_s = 1
time_wait_drain_s = 5
[cpus]
server = [1]
load = [0]
[[stacks]]
apps = ["raw-wsgi"]
servers = ["gunicorn-sync"]
[mixes.io]
sleep = 1
[mixes.io.params]
sleep_ms = 50
"""


def run(tmp_path: Path, text: str) -> tuple[Path, list[dict[str, str]]]:
    scenario = tmp_path / "s.toml"
    scenario.write_text(text)
    results = tmp_path / "results"
    done = run_harness("run", str(scenario), "--results-dir", str(results), timeout=180)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    with (run_dir / "cells.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CELL_COLUMNS
        rows = list(reader)
    assert rows and all(r["status"] == "ok" for r in rows), rows
    return run_dir, [r for r in rows if r["cold"] != "true"]


def test_fast_stack_is_generator_bound_and_wrk_cross_checks(tmp_path: Path) -> None:
    need("wrk")
    run_dir, (row,) = run(tmp_path, FAST)
    # On a quiet machine Locust's CPU reaches the core; on a shared one other processes
    # take part of it, and Locust's demand (running + waiting for the CPU) shows the limit.
    demand = max(float(row["load_cpu_pct_of_capacity"]), float(row["load_busy_pct_of_capacity"]))
    assert demand >= 90, {k: row[k] for k in row if "pct" in k}
    assert row["generator_bound"] == "true", row
    assert float(row["rps_wrk"]) > 0
    assert float(row["rps_ratio"]) == pytest.approx(
        float(row["rps"]) / float(row["rps_wrk"]), abs=1e-5
    )
    info = json.loads((run_dir / "raw" / row["cell"] / "cell.json").read_text())
    assert info["crosscheck"]["paths"] == {"/json": 1} and info["crosscheck"]["argv"][1] == "-t1"
    assert (row["wrk_paths"], row["wrk_left_out"]) == ("/json*1", "")
    assert any("generator-bound" in w for w in info["warnings"])
    assert row["noisy"] in ("true", "false") and float(row["other_cpu_pct"]) >= 0
    # One round: no interval, no unstable flag.
    assert all(row[c] == "" for c in REPEAT_COLUMNS)
    assert int(row["time_wait_start"]) >= 0 and 0 <= float(row["port_range_used_fraction"]) < 1
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert metadata["crosscheck"] == "wrk" and "calibration" in metadata
    # The CPU speed probe: each CPU set's speed in the window, loop iterations per µs
    # (the host decides the value: 18-37 on the test machine).
    for column in ("server_cpu_speed", "load_cpu_speed"):
        assert 0 < float(row[column]) < 1000, row[column]
        assert info["fidelity"][column] == pytest.approx(float(row[column]))


def test_slow_stack_is_not_generator_bound_and_rounds_aggregate(tmp_path: Path) -> None:
    run_dir, rows = run(tmp_path, SLOW)
    assert [r["round"] for r in rows] == ["1", "2"]
    for row in rows:
        assert row["generator_bound"] == "false", row
        assert float(row["load_cpu_pct_of_capacity"]) < 50, row
        assert float(row["load_busy_pct_of_capacity"]) < 50, row
        assert row["rps_wrk"] == "" and row["keepalive"] == "false"
        info = json.loads((run_dir / "raw" / row["cell"] / "cell.json").read_text())
        # Each window connects from an address of its own: nothing to wait for.
        assert info["time_wait"]["waited_s"] == 0 and row["time_wait_start"] == "0"
    with (run_dir / "aggregates.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == AGGREGATE_COLUMNS
        (agg,) = list(reader)
    assert agg["n"] == "2" and agg["generator_bound"] == "false"
    rps = sorted(float(r["rps"]) for r in rows)
    # Two rounds: the interval is [min, max], and its confidence 50%, as it says.
    assert (float(agg["rps_ci_low"]), float(agg["rps_ci_high"])) == pytest.approx(rps)
    assert float(agg["ci_level"]) == 0.5
    assert json.loads((run_dir / "metadata.json").read_text())["order_seed"] == 5
    # Every round carries its level's intervals and flag in cells.csv.
    for row in rows:
        assert {c: row[c] for c in REPEAT_COLUMNS} == {c: agg[c] for c in REPEAT_COLUMNS}
    assert rows[0]["unstable"] in ("true", "false") and rows[0]["p99_ms_ci_high"] != ""


# The fast scenario with a mix of three kinds: wrk drives json and plaintext 3:1, crud
# stays out.
WEIGHTED = (
    FAST.replace('name = "fid-fast"', 'name = "fid-wrk-mix"')
    .replace("users = [64]", "users = [4]")
    .replace("[mixes.json]\njson = 1", "[mixes.mixed]\njson = 3\nplaintext = 1\ncrud = 1")
)


def test_wrk_drives_the_mix_by_weight_and_leaves_crud_out(tmp_path: Path) -> None:
    need("wrk")
    run_dir, (row,) = run(tmp_path, WEIGHTED)
    assert (row["wrk_paths"], row["wrk_left_out"]) == ("/json*3;/plaintext*1", "crud")
    assert float(row["rps_wrk"]) > 0
    cell_dir = run_dir / "raw" / row["cell"]
    info = json.loads((cell_dir / "cell.json").read_text())
    check = info["crosscheck"]
    assert check["paths"] == {"/json": 3, "/plaintext": 1} and check["left_out"] == ["crud"]
    # Both paths exist on the server: wrk saw no error answer.
    assert check["non_2xx"] == 0, check
    script = (cell_dir / check["script"]).read_text()
    assert script.count('"/json"') == 3 and script.count('"/plaintext"') == 1
    assert check["argv"][-3:] == ["-s", str(cell_dir / "wrk.lua"), check["argv"][-1]]
    assert check["argv"][-1].startswith("http://127.0.1.1:")  # the stack's own address
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert metadata["crosscheck_paths"] == {
        "mixed": {"paths": {"/json": 3, "/plaintext": 1}, "left_out": ["crud"]}
    }
