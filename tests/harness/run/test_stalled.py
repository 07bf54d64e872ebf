"""Requests stalled through the whole measure window are counted, for real on loopback.

wsgiref serves one request at a time with a listen backlog of 5: of 16 users sending a
50 ms request at once, the few that fit in the accept queue cycle through it while the
others' connection attempts are dropped and retried by the kernel (1 s, then 3 s later),
usually for longer than the window. Those users send nothing in the window, so its
figures leave them out; cells.csv's `stalled` counts them, the cell is warned about and
flagged. Gunicorn's gthread worker with a thread per user stalls no one."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.report.tables import load_run, split_flags
from tests.conftest import OneCell, run_one_cell

pytestmark = [pytest.mark.slow, pytest.mark.cpus]

SCENARIO = """
name = "stalled"
[load]
warmup_s = 1
measure_s = 2
users = [16]
stop_timeout_s = 10
time_wait_drain_s = 0
[cpus]
server = [1]
load = [0]
[[stacks]]
apps = ["flask"]
servers = ["{server}"]
workers = [1]
{threads}
[mixes.sleep50]
sleep = 1
[mixes.sleep50.params]
sleep_ms = 50
"""


def _run(tmp_path: Path, server: str, threads: str = "") -> tuple[OneCell, int, list[str]]:
    """The run, the stalled count recomputed from its records and window, its flags."""
    run = run_one_cell(tmp_path, SCENARIO.format(server=server, threads=threads))
    start, end = run.info["measure_start"], run.info["measure_end"]
    stalled = sum(
        1 for r in run.records()
        if float(r["t_start"]) < start and float(r["t_start"]) + int(r["latency_us"]) / 1e6 >= end
    )  # fmt: skip
    (cell,) = load_run(run.run_dir).cells.itertuples()
    return run, stalled, split_flags(cell.flags)


def test_users_stuck_in_a_full_backlog_are_counted_as_stalled(tmp_path: Path) -> None:
    run, stalled, flags = _run(tmp_path, "wsgiref")
    assert int(run.row["stalled"]) == stalled == run.info["stalled"]
    assert stalled > 0, run.row
    assert any("still in flight when it ended" in w for w in run.info["warnings"])
    assert f"stalled {stalled} (latency a lower bound)" in run.stdout
    assert "stalled" in flags


def test_a_thread_per_user_stalls_no_one(tmp_path: Path) -> None:
    run, stalled, flags = _run(tmp_path, "gunicorn-gthread", "threads = [16]")
    assert int(run.row["stalled"]) == stalled == 0
    assert "stalled" not in flags
