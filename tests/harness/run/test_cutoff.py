"""Requests cut off by the end of the load are counted, for real on loopback: one sync
worker sleeping 50 ms per request and 40 users queue every request for about 2 s, longer
than the tail plus a stop timeout of 0 or 1 s. The requests still in flight when Locust stops
its users must show up as cut-off records, counted in cells.csv's cut_off and flagged,
never as errors; with a stop timeout longer than the queue, none is cut off."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.report.tables import load_run, split_flags
from tests.conftest import OneCell, run_one_cell

pytestmark = [pytest.mark.slow, pytest.mark.cpus]

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


def _run(tmp_path: Path, stop_timeout_s: float, load: str = "") -> OneCell:
    return run_one_cell(tmp_path, SCENARIO.format(stop_timeout_s=stop_timeout_s, load=load))


# Stop timeout 0: the window's users are stopped at once; 1 s: it waits, then stops the
# users whose request is still queued. LeanHttpUser and FastHttpUser in the rounds design
# (one driven Locust), and Locust's own stop in the isolated design with two worker
# processes.
@pytest.mark.parametrize(
    ("stop_timeout_s", "load"),
    [
        (0, ""),
        (1, 'processes = 2\ndesign = "isolated"'),
        (0, 'client = "fasthttp"'),
        (0, 'design = "isolated"'),
    ],
    ids=["single", "processes", "fasthttp", "isolated"],
)
def test_requests_unanswered_at_the_stop_are_counted_and_flagged(
    tmp_path: Path, stop_timeout_s: float, load: str
) -> None:
    run = _run(tmp_path, stop_timeout_s, load)
    row, info = run.row, run.info
    cut_off = int(row["cut_off"])
    assert cut_off > 0
    records = run.records()
    cut = [r for r in records if r["status"] == "-1"]
    assert len(cut) >= cut_off and {r["ok"] for r in cut} == {"0"}
    # Cut off is not an error: every request that completed was answered.
    assert int(row["errors"]) == 0
    # Locust counted each cut-off request it was told of: no record went missing.
    assert int(row["records"]) == len(records) == int(row["locust_requests"])
    assert info["cut_off"] == cut_off
    assert any("load.stop_timeout_s" in w for w in info["warnings"])
    assert f"{cut_off} request(s) sent in the measure window" in run.stdout
    assert f"cut off {cut_off} (lower bounds)" in run.stdout  # the progress line
    (cell,) = load_run(run.run_dir).cells.itertuples()
    assert "cut_off" in split_flags(cell.flags)


def test_a_stop_timeout_longer_than_the_queue_cuts_nothing_off(tmp_path: Path) -> None:
    run = _run(tmp_path, 8)
    assert int(run.row["cut_off"]) == 0
    assert not [r for r in run.records() if r["status"] == "-1"]
    assert "cut_off" not in split_flags(next(load_run(run.run_dir).cells.itertuples()).flags)
