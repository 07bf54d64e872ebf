"""Faults inside a real run of the isolated design (a server and a Locust per cell),
provoked for real, one per cell of one run (in-process, so the test can reach the
processes the harness starts; the rounds design's faults: test_faults_rounds.py):

  u2  the server is SIGKILLed while Locust loads it
  u3  the server never becomes ready (a command that never binds; startup timeout 3 s)
  u4  the picked port is taken by another process between pick and start
  u5  Locust is SIGKILLed mid-cell
  u6  nothing goes wrong: the run went on, and the CRUD cell passes its integrity check
  u7  a row is inserted behind the harness's back during the cell: integrity fails

Every cell uses the crud mix, and the per-run secret is a known value, so that the run
directory can be searched for it afterwards.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import harness.run.cell
import harness.run.session
from harness.core.marks import marked_pids
from harness.core.procs import ProcessRegistry
from harness.plan.scenario import parse_scenario
from harness.run.launch import HOST, log_tail
from harness.run.runner import run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.cpus]

SECRET = "pwbTESTSECRETvalue0123456789"
STACK = "raw-wsgi@gunicorn-sync-w1"
NEVER_READY = (
    "import sys, time; print('booting slowly, never binding', flush=True); time.sleep(120)"
)


def _scenario_data() -> dict[str, Any]:
    return {
        "name": "faults",
        "load": {
            "warmup_s": 0.5, "measure_s": 1.5, "users": [2, 3, 4, 5, 6, 7],
            "spawn_margin_s": 5, "stop_timeout_s": 1, "startup_timeout_s": 3,
            "request_timeout_s": 5, "time_wait_drain_s": 0, "design": "isolated",
        },
        "cpus": {"server": [1], "load": [0]},
        "stacks": [{"apps": ["raw-wsgi"], "servers": ["gunicorn-sync"], "workers": [1]}],
        "mixes": {"crud": {"crud": 1}},
    }  # fmt: skip


def _cell(users: int) -> str:
    return f"{STACK}__crud__u{users}__r1"


class Saboteur:
    """Wraps the harness's start functions to see (and break) what each cell starts."""

    def __init__(self, run_root: Path) -> None:
        self.run_root = run_root
        self.servers: dict[str, subprocess.Popen[bytes]] = {}
        self.locusts: dict[str, subprocess.Popen[bytes]] = {}
        self.blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.blocker.bind((HOST, 0))
        self.blocker.listen(1)
        self.blocked_port = int(self.blocker.getsockname()[1])
        self.ports_picked = 0
        self.done = threading.Event()
        self.inserted = False

    def free_port(self, real: Any) -> int:
        self.ports_picked += 1
        # The third cell (u4): the port is taken after it was picked.
        return self.blocked_port if self.ports_picked == 3 else int(real())

    def spawn(self, real: Any, procs: Any, argv: Any, **kw: Any) -> subprocess.Popen[bytes]:
        """ProcessRegistry.spawn: every child the harness starts goes through here."""
        log_path = Path(kw["log_path"])
        cell = log_path.parent.name
        if cell == _cell(3) and log_path.name == "server.log":
            argv = [sys.executable, "-c", NEVER_READY]
        proc: subprocess.Popen[bytes] = real(procs, argv, **kw)
        if log_path.name == "server.log":
            self.servers[cell] = proc
        elif log_path.name == "locust.log":
            self.locusts[cell] = proc
        return proc

    def _go(self, cell: str) -> bool:
        return any((p / "raw" / cell / "go").exists() for p in self.run_root.iterdir())

    def watch(self) -> None:
        """Kill the u2 server and the u5 Locust once load has started; add a row in u7."""
        pending = {_cell(2), _cell(5), _cell(7)}
        while pending and not self.done.is_set():
            for cell in sorted(pending):
                if not self._go(cell):
                    continue
                time.sleep(0.7)
                if cell == _cell(2):
                    os.killpg(self.servers[cell].pid, signal.SIGKILL)
                elif cell == _cell(5):
                    os.killpg(self.locusts[cell].pid, signal.SIGKILL)
                else:
                    db = next(self.run_root.iterdir()) / "db.sqlite3"
                    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn, conn:
                        conn.execute(
                            "INSERT INTO items (name, price, description) VALUES ('x', 1, NULL)"
                        )
                    self.inserted = True
                pending.discard(cell)
            time.sleep(0.05)


@pytest.fixture(scope="module")
def faults_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Saboteur]]:
    results = tmp_path_factory.mktemp("faults-results")
    scenario = parse_scenario(_scenario_data(), "faults (test)", results / "faults.toml")
    sab = Saboteur(results)
    real_port, real_spawn = harness.run.cell.free_port, ProcessRegistry.spawn
    mp = pytest.MonkeyPatch()
    mp.setattr(harness.run.cell, "free_port", lambda: sab.free_port(real_port))
    mp.setattr(ProcessRegistry, "spawn", lambda *a, **k: sab.spawn(real_spawn, *a, **k))
    mp.setattr(harness.run.session.secrets, "token_urlsafe", lambda n=None: SECRET)
    watcher = threading.Thread(target=sab.watch, daemon=True)
    watcher.start()
    try:
        run_dir = run_scenario(scenario, results, out=lambda _line: None, use_calibration=False)
    finally:
        sab.done.set()
        watcher.join(5)
        mp.undo()
        sab.blocker.close()
    yield run_dir, sab


def _rows(run_dir: Path) -> dict[str, dict[str, str]]:
    with (run_dir / "cells.csv").open(newline="") as f:
        return {r["cell"]: r for r in csv.DictReader(f)}


def _info(run_dir: Path, users: int) -> dict[str, Any]:
    return json.loads((run_dir / "raw" / _cell(users) / "cell.json").read_text())


def test_every_cell_ran_and_nothing_is_left_running(faults_run: tuple[Path, Saboteur]) -> None:
    run_dir, _ = faults_run
    rows = _rows(run_dir)
    assert list(rows) == [_cell(u) for u in (2, 3, 4, 5, 6, 7)]
    assert {u: rows[_cell(u)]["status"] for u in (2, 3, 4, 5, 6, 7)} == {
        2: "failed", 3: "failed", 4: "failed", 5: "failed", 6: "ok", 7: "failed",
    }  # fmt: skip
    assert marked_pids(run_dir.name) == []


def test_server_killed_during_load_fails_the_cell_with_its_log_tail(
    faults_run: tuple[Path, Saboteur],
) -> None:
    run_dir, _ = faults_run
    info = _info(run_dir, 2)
    assert "server exited with code -9 during the load; log tail:" in info["error"]
    assert info["error"].endswith(log_tail(run_dir / "raw" / _cell(2) / "server.log"))
    assert not (run_dir / "raw" / _cell(2) / "requests.csv.gz").exists()
    assert not list((run_dir / "raw" / _cell(2)).glob("requests.*.csv"))


def test_server_never_ready_times_out_with_its_log_tail(faults_run: tuple[Path, Saboteur]) -> None:
    run_dir, _ = faults_run
    info = _info(run_dir, 3)
    assert "/health within 3 s" in info["error"]
    assert "booting slowly, never binding" in info["error"]


def test_port_taken_between_pick_and_start_is_a_clear_error(
    faults_run: tuple[Path, Saboteur],
) -> None:
    run_dir, sab = faults_run
    info = _info(run_dir, 4)
    assert (
        f"port {sab.blocked_port} on {HOST} was free when picked but is now taken"
        in (info["error"])
    )
    # Nothing was started and nothing half-written: no logs, no records.
    assert sorted(p.name for p in (run_dir / "raw" / _cell(4)).iterdir()) == ["cell.json"]


def test_locust_killed_fails_the_cell_with_locust_log_tail(
    faults_run: tuple[Path, Saboteur],
) -> None:
    run_dir, _ = faults_run
    info = _info(run_dir, 5)
    assert info["error"].startswith("Locust exited with code -9; log tail:")
    assert info["error"].endswith(log_tail(run_dir / "raw" / _cell(5) / "locust.log"))
    cell_dir = run_dir / "raw" / _cell(5)
    assert not (cell_dir / "requests.csv.gz").exists()
    assert not [*cell_dir.glob("requests.*.csv"), *cell_dir.glob("spawn.*.json")]
    assert (cell_dir / "cell.json").exists() and (cell_dir / "locust.log").exists()


def test_crud_cell_passes_the_integrity_check(faults_run: tuple[Path, Saboteur]) -> None:
    run_dir, _ = faults_run
    row, info = _rows(run_dir)[_cell(6)], _info(run_dir, 6)
    assert row["integrity"] == "ok"
    verdict = info["integrity"]
    with gzip.open(run_dir / "raw" / _cell(6) / "requests.csv.gz", "rt", newline="") as f:
        records = list(csv.DictReader(f))
    created = sum(1 for r in records if r["name"] == "POST /items" and r["status"] == "201")
    deleted = sum(1 for r in records if r["name"] == "DELETE /items/{id}" and r["status"] == "204")
    assert created > 0
    assert (verdict["created_201"], verdict["deleted_204"]) == (created, deleted)
    assert verdict["rows_after"] - verdict["rows_before"] == created - deleted
    assert [r["integrity"] for r in _rows(run_dir).values()][:5] == ["n/a"] * 4 + ["ok"]


def test_row_added_behind_the_harness_fails_integrity_loudly(
    faults_run: tuple[Path, Saboteur],
) -> None:
    run_dir, sab = faults_run
    assert sab.inserted
    row, info = _rows(run_dir)[_cell(7)], _info(run_dir, 7)
    assert (row["status"], row["integrity"]) == ("failed", "failed")
    verdict = info["integrity"]
    assert verdict["rows_after"] == verdict["rows_before"] + 1
    assert info["error"].startswith("data integrity check failed: items went from")
    assert f"expected {verdict['rows_before']}" in info["error"]


def test_results_hold_no_secret(faults_run: tuple[Path, Saboteur]) -> None:
    run_dir, _ = faults_run
    assert harness.run.session.secrets.token_urlsafe(8) != SECRET  # the patch is gone
    searched = 0
    for path in run_dir.rglob("*"):
        if not path.is_file():
            continue
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        assert SECRET.encode() not in data, path
        searched += 1
    assert searched > 20
