"""Distributed Locust and targets, for real on loopback: a master with two forked workers
(load.processes), a master waiting for two workers this test starts from the printed
command (load.load_workers), and a server the test starts itself (target). Totals must agree:
cells.csv records = the sum of the workers' records = Locust's own total."""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.core.marks import marked_pids
from harness.plan.stacks import make_stack
from harness.run.launch import HOST, free_port
from harness.run.session import NO_UPSTREAM_URL, prepare_database

REPO_ROOT = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.slow, pytest.mark.cpus]

SCENARIO = """
name = "{name}"
[load]
warmup_s = 1
measure_s = 2
users = [4]
spawn_margin_s = 5
stop_timeout_s = 1
# gunicorn-sync closes every connection: no waiting for TIME_WAIT between these runs.
time_wait_drain_s = 0
{load}
[cpus]
server = [1]
load = [0]
[[stacks]]
apps = ["raw-wsgi"]
servers = ["gunicorn-sync"]
{stack}
[mixes.json]
json = 3
plaintext = 1
"""


# Distributed Locust runs one Locust per cell: the isolated design.
ISOLATED = 'design = "isolated"'


def _scenario(tmp_path: Path, name: str, load: str = "", stack: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(SCENARIO.format(name=name, load=load, stack=stack))
    return path


def _harness(scenario: Path, results: Path) -> list[str]:
    return [sys.executable, "-m", "harness", "run", str(scenario), "--results-dir", str(results)]


def _one_run(results: Path) -> tuple[Path, dict[str, str], dict[str, object]]:
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    with (run_dir / "cells.csv").open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    info = json.loads((run_dir / "raw" / row["cell"] / "cell.json").read_text())
    return run_dir, row, info


def _check_totals(run_dir: Path, row: dict[str, str], info: dict[str, object]) -> None:
    """records in cells.csv = the merged file = the sum per worker = Locust's total, and
    requests = the merged records inside the measure window."""
    assert row["status"] == "ok", info.get("error")
    with gzip.open(run_dir / "raw" / row["cell"] / "requests.csv.gz", "rt") as f:
        merged = list(csv.DictReader(f))
    per_process = info["records_per_process"]
    assert isinstance(per_process, dict)
    assert sorted(per_process) == ["w0", "w1"]
    counts = [w["records"] for w in per_process.values()]
    assert all(c > 0 for c in counts), per_process
    assert sum(w["users"] for w in per_process.values()) == 4
    assert int(row["records"]) == len(merged) == sum(counts) == int(row["locust_requests"])
    assert info["locust_requests"] == sum(counts)
    start, end = info["measure_start"], info["measure_end"]
    assert isinstance(start, float) and isinstance(end, float)
    inside = [r for r in merged if start <= float(r["t_start"]) < end]
    assert int(row["requests"]) == len(inside) > 0
    assert row["load_processes"] == "2"
    assert marked_pids(run_dir.name) == []


def test_processes_fork_two_workers_whose_records_add_up(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, "processes", load=f"processes = 2\n{ISOLATED}")
    done = subprocess.run(
        _harness(scenario, tmp_path / "results"),
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    run_dir, row, info = _one_run(tmp_path / "results")
    _check_totals(run_dir, row, info)
    assert info["load_distribution"] == "processes"
    assert row["server_managed"] == "true" and float(row["server_cpu_pct"]) > 0
    pids = {w["pid"] for w in info["records_per_process"].values()}  # type: ignore[attr-defined]
    assert len(pids) == 2
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert metadata["load"] == {"distribution": "processes", "processes": 2, "master": None}


@contextlib.contextmanager
def _group(argv: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A process in its own group, killed with its children on the way out."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_workers_started_from_the_printed_command_deliver_every_record(tmp_path: Path) -> None:
    port = free_port()
    load = f"load_workers = 2\nmaster_port = {port}\nworkers_wait_s = 60\n{ISOLATED}"
    scenario = _scenario(tmp_path, "workers", load=load)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    harness = subprocess.Popen(
        _harness(scenario, tmp_path / "results"),
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output: list[str] = []
    try:
        assert harness.stdout is not None
        for line in harness.stdout:
            output.append(line)
            if "start each with:" in line:
                break
        command = shlex.split(harness.stdout.readline())
        output.append(shlex.join(command))
        assert command[0] == "env" and "--worker" in command, output
        assert command[command.index("--master-port") + 1] == str(port)
        with (
            _group(command, tmp_path / "worker1.log", env) as one,
            _group(command, tmp_path / "worker2.log", env) as two,
        ):
            output.extend(harness.stdout)
            assert harness.wait(timeout=120) == 0, "".join(output)
            # The master told them to quit: they end by themselves.
            assert one.wait(timeout=30) == 0 and two.wait(timeout=30) == 0
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
    run_dir, row, info = _one_run(tmp_path / "results")
    _check_totals(run_dir, row, info)
    assert info["load_distribution"] == "workers"
    assert info["worker_command"] == shlex.join(command)
    # Only the master ran here: its CPU is not the generator's.
    assert row["locust_cpu_pct"] == "" and row["load_cpu_pct_of_capacity"] == ""


def test_a_target_is_loaded_but_never_started_or_stopped(tmp_path: Path) -> None:
    port = free_port()
    stack = make_stack("raw-wsgi", "gunicorn-sync")
    server_env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": prepare_database(tmp_path),
        "UPSTREAM_URL": NO_UPSTREAM_URL,
    }
    target = f"http://{HOST}:{port}"
    scenario = _scenario(tmp_path, "target", stack=f'target = "{target}"')
    argv = stack.argv(HOST, port)
    with _group(argv, tmp_path / "server.log", server_env) as server:
        done = subprocess.run(
            _harness(scenario, tmp_path / "results"),
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
        assert server.poll() is None, "the harness stopped a server it did not start"
    run_dir, row, info = _one_run(tmp_path / "results")
    assert row["status"] == "ok", info.get("error")
    assert row["stack"] == "raw-wsgi@gunicorn-sync-w1"
    assert row["server_managed"] == "false"
    assert row["server_cpu_pct"] == "" and row["server_rss_mb"] == ""
    assert int(row["requests"]) > 0 and row["integrity"] == "n/a"
    assert info["command"] is None
    assert info["stack"]["target"] == target and info["stack"]["server_managed"] is False  # type: ignore[index]
    assert not (run_dir / "raw" / row["cell"] / "server.log").exists()
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert metadata["unmanaged_targets"] == {"raw-wsgi@gunicorn-sync-w1": target}


def test_workers_that_never_connect_fail_the_cell_in_time(tmp_path: Path) -> None:
    load = f"load_workers = 1\nmaster_port = {free_port()}\nworkers_wait_s = 1\n{ISOLATED}"
    scenario = _scenario(tmp_path, "noworkers", load=load)
    done = subprocess.run(
        _harness(scenario, tmp_path / "results"),
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    run_dir, row, info = _one_run(tmp_path / "results")
    assert row["status"] == "failed"
    assert "Gave up waiting for workers" in str(info["error"]), info["error"]
    assert marked_pids(run_dir.name) == []
