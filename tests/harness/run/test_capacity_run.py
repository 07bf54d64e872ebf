"""A capacity run for real, tiny: one stack whose capacity lies inside the search's range
(one sync worker, 20 ms a request: at most 50 requests/s) and one that meets the objective
at max_rps; every window in cells.csv, the searches in metadata.json, capacity.csv as the
rows say, and a report with the sizing table and the capacity chart."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.report.build import build_report
from harness.results.capacity import capacity_rows
from tests.conftest import run_harness

pytestmark = [pytest.mark.slow, pytest.mark.cpus]

SCENARIO = """
name = "capacity-tiny"
description = "a capacity search over two stacks, 20 ms sleeps"
[load]
mode = "open"
users = [40]
warmup_s = 0.2
measure_s = 0.7
spawn_margin_s = 5
stop_timeout_s = 1
[capacity]
p99_ms = 100
start_rps = 40
max_rps = 80
precision = 0.5
settle_rounds = 2
[[stacks]]
apps = ["flask"]
servers = ["gunicorn-sync"]
workers = [1]
[[stacks]]
apps = ["raw-asgi"]
servers = ["uvicorn"]
[mixes.io]
sleep = 1
[mixes.io.params]
sleep_ms = 20
"""
SLOW, FAST = "flask@gunicorn-sync-w1", "raw-asgi@uvicorn-w1"


def test_a_capacity_run_searches_settles_and_reports(tmp_path: Path) -> None:
    scenario = tmp_path / "capacity.toml"
    scenario.write_text(SCENARIO)
    results = tmp_path / "results"
    done = run_harness("run", str(scenario), "--results-dir", str(results), timeout=240)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    meta = json.loads((run_dir / "metadata.json").read_text())
    info = meta["capacity"]
    assert info["spec"]["start_rps"] == 40 and info["spec"]["settle_rounds"] == 2
    searches = info["searches"]
    assert set(searches) == {f"{SLOW}|io", f"{FAST}|io"}
    # 1 sync worker x 20 ms: 80 requests/s queue up, so its capacity is bracketed below 80.
    slow = searches[f"{SLOW}|io"]
    assert slow["end"] == "bracketed" and slow["hi"] is not None and slow["hi"] <= 80, slow
    assert slow["lo"] < slow["hi"] <= slow["lo"] * 1.5, slow
    fast = searches[f"{FAST}|io"]
    assert fast["end"].startswith("max_rps met") and fast["lo"] == 80, fast
    with (run_dir / "cells.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    windows = [r for r in rows if r["cold"] != "true"]
    assert all(r["status"] == "ok" for r in rows), rows
    # Each step measures every unfinished search once; the settle rounds, every ladder rate
    # and the rates each round widened its ladder by (recorded in metadata.json).
    settle = info["settle_rounds"]
    assert len(settle) == 2 and settle == sorted(settle)
    for rnd in settle:
        got = sorted((r["stack"], int(r["target_rps"])) for r in windows if int(r["round"]) == rnd)
        wider = info["widened"].get(str(rnd), {})
        want = sorted(
            (s.split("|")[0], rate) for s, v in searches.items()
            for rate in [*v["ladder"], *wider.get(s, [])]
        )  # fmt: skip
        assert got == want, (rnd, got)
    steps = [r for r in windows if int(r["round"]) < settle[0]]
    assert len(steps) == slow["steps"] + fast["steps"]
    # capacity.csv is what the rows say.
    with (run_dir / "capacity.csv").open(newline="") as f:
        written = {r["stack"]: r for r in csv.DictReader(f)}
    recomputed = {r["stack"]: r for r in capacity_rows(rows, info)}
    assert set(written) == {SLOW, FAST}
    for stack, row in recomputed.items():
        assert float(written[stack]["capacity_rps"]) == pytest.approx(row["capacity_rps"])
    assert written[FAST]["bound"] == "at least" and float(written[FAST]["capacity_rps"]) == 80
    assert float(written[SLOW]["capacity_rps"]) < 80
    assert written[SLOW]["falls_over_rps"] != ""
    report = build_report(run_dir)
    html = report.read_text()
    assert "Capacity within the objective" in html and SLOW in html and FAST in html
    # What to deploy ranks by capacity; the peak-throughput headline is left out.
    assert "Ranked by capacity within the objective" in html
    assert f"mix io: {FAST} at least 80/s" in html and 'id="headline"' not in html
    assert (run_dir / "charts" / "io--capacity.png").stat().st_size > 0


def test_a_capacity_run_cannot_resume_and_its_dry_run_says_what_it_does(tmp_path: Path) -> None:
    scenario = tmp_path / "capacity.toml"
    scenario.write_text(SCENARIO)
    dry = run_harness("run", str(scenario), "--dry-run", timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "capacity search: p99 <= 100 ms and errors <= 0.1%, from 40/s" in dry.stdout
    assert "cost at 0.04 per core-hour and 0.005 per GB-hour" in dry.stdout
    priced = run_harness(
        "run", str(scenario), "--dry-run", "--price-core-hour", "0.1", "--price-gb-hour", "0"
    )
    assert "cost at 0.1 per core-hour and 0 per GB-hour" in priced.stdout, priced.stderr
    bad = run_harness("run", str(scenario), "--dry-run", "--price-core-hour", "-1")
    assert bad.returncode == 2 and "expected a number >= 0, got '-1'" in bad.stderr
    (tmp_path / "old").mkdir()
    resumed = run_harness("run", str(scenario), "--resume", str(tmp_path / "old"), timeout=60)
    assert resumed.returncode == 2
    assert "a capacity search cannot resume" in resumed.stderr + resumed.stdout
