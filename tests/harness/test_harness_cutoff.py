"""Requests cut off by the end of the load are counted, for real on loopback: one sync
worker sleeping 50 ms per request and 40 users queue every request for about 2 s, longer
than the tail plus a stop timeout of 0 or 1 s. The requests still in flight when Locust stops
its users must show up as cut-off records, counted in cells.csv's cut_off and flagged,
never as errors; with a stop timeout longer than the queue, none is cut off."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from harness.procs import marked_pids
from harness.report.tables import load_run, split_flags
from tests.conftest import run_harness

pytestmark = pytest.mark.slow

SCENARIO = """
name = "cutoff"
[load]
warmup_s = 0.5
measure_s = 2
users = [40]
spawn_margin_s = 5
stop_timeout_s = {stop_timeout_s}
request_timeout_s = 30
time_wait_drain_s = 0
{load}
[cpus]
server = [1]
load = [0]
[[stacks]]
apps = ["flask"]
servers = ["gunicorn-sync"]
workers = [1]
[mixes.slow]
sleep = 1
[mixes.slow.params]
sleep_ms = 50
"""


def _run(tmp_path: Path, stop_timeout_s: float, load: str = "") -> tuple[Path, dict[str, Any]]:
    scenario = tmp_path / "cutoff.toml"
    scenario.write_text(SCENARIO.format(stop_timeout_s=stop_timeout_s, load=load))
    results = tmp_path / "results"
    done = run_harness("run", str(scenario), "--results-dir", str(results))
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    assert marked_pids(run_dir.name) == []
    with (run_dir / "cells.csv").open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    info = json.loads((run_dir / "raw" / row["cell"] / "cell.json").read_text())
    assert row["status"] == "ok", info.get("error")
    return run_dir, row | {"stdout": done.stdout, "info": info}


def _records(run_dir: Path, cell: str) -> list[dict[str, str]]:
    with gzip.open(run_dir / "raw" / cell / "requests.csv.gz", "rt", newline="") as f:
        return list(csv.DictReader(f))


# Stop timeout 0: Locust kills every user at once; 1 s (with two worker processes): it
# waits, then kills the users whose request is still queued. LeanHttpUser, and
# FastHttpUser once.
@pytest.mark.parametrize(
    ("stop_timeout_s", "load"),
    [(0, ""), (1, "processes = 2"), (0, 'client = "fasthttp"')],
    ids=["single", "processes", "fasthttp"],
)
def test_requests_unanswered_at_the_stop_are_counted_and_flagged(
    tmp_path: Path, stop_timeout_s: float, load: str
) -> None:
    run_dir, row = _run(tmp_path, stop_timeout_s, load)
    cut_off = int(row["cut_off"])
    assert cut_off > 0
    records = _records(run_dir, row["cell"])
    cut = [r for r in records if r["status"] == "-1"]
    assert len(cut) >= cut_off and {r["ok"] for r in cut} == {"0"}
    # Cut off is not an error: every request that completed was answered.
    assert int(row["errors"]) == 0
    # Locust counted each cut-off request it was told of: no record went missing.
    assert int(row["records"]) == len(records) == int(row["locust_requests"])
    info = row["info"]
    assert info["cut_off"] == cut_off
    assert any("load.stop_timeout_s" in w for w in info["warnings"])
    assert f"{cut_off} request(s) sent in the measure window" in row["stdout"]
    assert f"cut off {cut_off} (lower bounds)" in row["stdout"]  # the progress line
    (cell,) = load_run(run_dir).cells.itertuples()
    assert "cut_off" in split_flags(cell.flags)


def test_a_stop_timeout_longer_than_the_queue_cuts_nothing_off(tmp_path: Path) -> None:
    run_dir, row = _run(tmp_path, 8)
    assert int(row["cut_off"]) == 0
    assert not [r for r in _records(run_dir, row["cell"]) if r["status"] == "-1"]
    assert "cut_off" not in split_flags(next(load_run(run_dir).cells.itertuples()).flags)
