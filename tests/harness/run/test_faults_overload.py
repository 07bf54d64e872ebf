"""Overload: 200 users against a stack that serves 5 requests/s. Requests fail after the
scenario's request_timeout_s (status 0, counted as errors), nobody hangs, and the cell
stays within its time budget plus the harness's 10 s deadline grace (the rounds design:
a window's budget is its warm-up, measure, tail and drain)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from harness.core.marks import marked_pids
from harness.plan.scenario import load_scenario
from harness.run.driven import window_budget_s
from harness.run.faults import DEADLINE_GRACE_S
from tests.conftest import run_harness

REPO_ROOT = Path(__file__).resolve().parents[3]
SCENARIO = REPO_ROOT / "tests" / "fixtures" / "overload.toml"

pytestmark = [pytest.mark.slow, pytest.mark.cpus]


def test_overload_counts_timeouts_as_failures_within_the_budget(tmp_path: Path) -> None:
    done = run_harness("run", str(SCENARIO), "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    with (run_dir / "cells.csv").open(newline="") as f:
        (row,) = [r for r in csv.DictReader(f) if r["cold"] != "true"]
    cell_dir = run_dir / "raw" / row["cell"]
    info = json.loads((cell_dir / "cell.json").read_text())
    assert row["status"] == "ok", info.get("error")
    with gzip.open(cell_dir / "requests.csv.gz", "rt", newline="") as f:
        records = list(csv.DictReader(f))
    # Cut-off requests (status -1, unanswered when Locust stopped its users) are no failures.
    failed = [r for r in records if r["ok"] == "0" and r["status"] != "-1"]
    answered = [r for r in records if r["ok"] == "1"]
    # Most users wait in the queue past 1 s: their requests fail without an answer.
    assert int(row["errors"]) > 0 and len(failed) > len(answered)
    assert {r["status"] for r in failed} == {"0"}
    # Nobody hung: no request took much longer than the 1 s timeout.
    assert max(int(r["latency_us"]) for r in records) < 3_000_000
    load = load_scenario(SCENARIO).load
    assert info["window_s"] < window_budget_s(load) + DEADLINE_GRACE_S
    assert marked_pids(run_dir.name) == []
