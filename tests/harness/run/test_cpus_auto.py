"""A real run with cpus = "auto" and a worker count in cores: the CPU sets of the machine's
split are the ones the cell ran on, and metadata.json says how they were chosen."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.core.procs import cpu_list
from harness.plan.cpus import AUTO_RULE, auto_split
from tests.conftest import run_one_cell

pytestmark = [pytest.mark.slow, pytest.mark.cpus]

SCENARIO = """
name = "auto"
cpus = "auto"
[load]
warmup_s = 0.5
measure_s = 1
users = [2]
spawn_margin_s = 5
stop_timeout_s = 1
[[stacks]]
apps = ["raw-wsgi"]
servers = ["gunicorn-sync"]
workers = ["2*cores+1"]
[mixes.json]
json = 1
"""


def test_auto_runs_on_the_split_it_records(tmp_path: Path) -> None:
    machine = sorted(os.sched_getaffinity(0))
    if len(machine) < 2:
        pytest.skip(f'cpus = "auto" needs 2 CPUs, this process may use {machine}')
    split = auto_split(machine)
    cell = run_one_cell(tmp_path, SCENARIO)
    # On this 2-CPU machine: load "0", server "1", and 2 * 1 + 1 = 3 workers.
    assert (cell.row["server_cpus"], cell.row["load_cpus"]) == (
        cpu_list(split.server), cpu_list(split.load),
    )  # fmt: skip
    assert cell.row["stack"] == f"raw-wsgi@gunicorn-sync-w{2 * len(split.server) + 1}"
    assert int(cell.row["requests"]) > 0
    assert cell.info["cpu_sets"] == split.describe()
    metadata = json.loads((cell.run_dir / "metadata.json").read_text())
    assert metadata["cpu_sets"] == split.describe()
    assert metadata["cpu_split"] == {"rule": AUTO_RULE, "machine_cpus": machine}
