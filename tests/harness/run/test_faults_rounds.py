"""Faults inside a real run of the rounds design (stacks kept up, one Locust per round),
provoked for real (in-process, so that the test reaches the processes the harness starts).
Two rounds of a CRUD mix over four stacks:

  A  raw-wsgi@gunicorn-sync-w1       its server is SIGKILLed during its round-1 window:
                                     that window fails with the log tail, its round-2 one
                                     says the stack failed
  B  raw-wsgi@gunicorn-gthread-w1t2  never becomes ready: every window of it fails, saying
                                     so; the others run
  C  flask@gunicorn-sync-w1          Locust is SIGKILLed during its round-1 window: that
                                     window fails with Locust's log tail, a new Locust runs
                                     the rest, and its round-2 window is ok
  D  flask@gunicorn-gthread-w1t2     a row is added behind the harness during its round-2
                                     window: the integrity check fails it loudly
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.core.marks import marked_pids
from harness.core.procs import ProcessRegistry
from harness.plan.scenario import parse_scenario
from harness.run.runner import run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.cpus]

A, B = "raw-wsgi@gunicorn-sync-w1", "raw-wsgi@gunicorn-gthread-w1t2"
C, D = "flask@gunicorn-sync-w1", "flask@gunicorn-gthread-w1t2"
NEVER_READY = "import time; print('booting slowly, never binding', flush=True); time.sleep(120)"


def _scenario() -> dict[str, Any]:
    return {
        "name": "rounds-faults",
        "load": {
            "warmup_s": 0.5, "measure_s": 1.5, "users": [2], "rounds": 2, "seed": 11,
            "stop_timeout_s": 1, "startup_timeout_s": 3, "request_timeout_s": 5,
        },
        "cpus": {"server": [1], "load": [0]},
        "stacks": [
            {"apps": ["raw-wsgi"], "servers": ["gunicorn-sync", "gunicorn-gthread"],
             "threads": [2]},
            {"apps": ["flask"], "servers": ["gunicorn-sync", "gunicorn-gthread"],
             "threads": [2]},
        ],
        "mixes": {"crud": {"crud": 1}},
    }  # fmt: skip


def _window(stack: str, round_: int) -> str:
    return f"{stack}__crud__u2__r{round_}"


class Saboteur:
    """Sees every process the harness starts, and breaks some of them on cue."""

    def __init__(self, results: Path) -> None:
        self.results = results
        self.servers: dict[str, subprocess.Popen[bytes]] = {}
        self.locusts: list[subprocess.Popen[bytes]] = []
        self.done = threading.Event()
        self.acted: set[str] = set()

    def spawn(self, real: Any, procs: Any, argv: Any, **kw: Any) -> subprocess.Popen[bytes]:
        log_path = Path(kw["log_path"])
        if log_path.name == "server.log" and log_path.parent.name == B:
            argv = [sys.executable, "-c", NEVER_READY]
        proc: subprocess.Popen[bytes] = real(procs, argv, **kw)
        if log_path.name == "server.log":
            self.servers[log_path.parent.name] = proc
        elif log_path.name == "locust.log":
            self.locusts.append(proc)
        return proc

    def _started(self, cell: str) -> bool:
        for spec in self.results.glob("*/rounds/*/window-*.json"):
            if spec.name.endswith(".done.json"):
                continue
            with contextlib.suppress(OSError, ValueError):
                if json.loads(spec.read_text())["cell"] == cell:
                    return True
        return False

    def watch(self) -> None:
        cues = {_window(A, 1), _window(C, 1), _window(D, 2)}
        while cues - self.acted and not self.done.is_set():
            for cell in sorted(cues - self.acted):
                if not self._started(cell):
                    continue
                time.sleep(0.8)  # inside the measure window
                if cell == _window(A, 1):
                    os.killpg(self.servers[A].pid, signal.SIGKILL)
                elif cell == _window(C, 1):
                    os.killpg(self.locusts[-1].pid, signal.SIGKILL)
                else:
                    (run,) = self.results.iterdir()
                    db = run / "db" / f"{D}.sqlite3"
                    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn, conn:
                        conn.execute(
                            "INSERT INTO items (name, price, description) VALUES ('x', 1, NULL)"
                        )
                self.acted.add(cell)
            time.sleep(0.02)


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Saboteur]]:
    results = tmp_path_factory.mktemp("rounds-faults")
    scenario = parse_scenario(_scenario(), "rounds faults (test)", results / "s.toml")
    sab = Saboteur(results)
    real_spawn = ProcessRegistry.spawn
    mp = pytest.MonkeyPatch()
    mp.setattr(ProcessRegistry, "spawn", lambda *a, **k: sab.spawn(real_spawn, *a, **k))
    watcher = threading.Thread(target=sab.watch, daemon=True)
    watcher.start()
    try:
        run_dir = run_scenario(scenario, results, out=lambda _line: None, use_calibration=False)
    finally:
        sab.done.set()
        mp.undo()
        watcher.join(timeout=5)
    yield run_dir, sab


def _rows(run_dir: Path) -> dict[str, dict[str, str]]:
    with (run_dir / "cells.csv").open(newline="") as f:
        return {r["cell"]: r for r in csv.DictReader(f)}


def _error(run_dir: Path, cell: str) -> str:
    return str(json.loads((run_dir / "raw" / cell / "cell.json").read_text())["error"])


def test_every_window_has_a_row_and_nothing_is_left_running(
    faulty_run: tuple[Path, Saboteur],
) -> None:
    run_dir, sab = faulty_run
    rows = _rows(run_dir)
    assert sab.acted == {_window(A, 1), _window(C, 1), _window(D, 2)}
    assert len(rows) == 4 + 8  # a cold window per stack, four windows a round
    assert marked_pids(run_dir.name) == []


def test_a_stack_that_never_starts_fails_its_windows_and_the_others_run(
    faulty_run: tuple[Path, Saboteur],
) -> None:
    run_dir, _ = faulty_run
    rows = _rows(run_dir)
    mine = [c for c in rows if c.startswith(B + "__")]
    assert len(mine) == 3 and {rows[c]["status"] for c in mine} == {"failed"}
    for cell in mine:
        error = _error(run_dir, cell)
        assert f"stack {B} did not start" in error and "booting slowly" in error
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert "did not start" in metadata["stacks"][B]["failed"]


def test_a_server_killed_mid_window_fails_it_and_the_stack_stays_failed(
    faulty_run: tuple[Path, Saboteur],
) -> None:
    run_dir, _ = faulty_run
    rows = _rows(run_dir)
    assert rows[f"{A}__cold__s1"]["status"] == "ok"
    assert rows[_window(A, 1)]["status"] == "failed"
    assert "server exited with code -9 during the load; log tail" in _error(run_dir, _window(A, 1))
    assert rows[_window(A, 2)]["status"] == "failed"
    assert f"stack {A} failed in window {_window(A, 1)}" in _error(run_dir, _window(A, 2))


def test_a_locust_killed_mid_window_fails_it_and_a_new_one_runs_the_rest(
    faulty_run: tuple[Path, Saboteur],
) -> None:
    run_dir, sab = faulty_run
    rows = _rows(run_dir)
    assert rows[_window(C, 1)]["status"] == "failed"
    assert "Locust exited with code" in _error(run_dir, _window(C, 1))
    assert rows[_window(C, 2)]["status"] == "ok"
    # Seed 11 puts D's round-1 window after C's: a second Locust ran it.
    assert int(rows[_window(D, 1)]["order"]) > int(rows[_window(C, 1)]["order"])
    assert rows[_window(D, 1)]["status"] == "ok"
    # One Locust for the cold windows, two for round 1 (one was killed), one for round 2.
    assert len(sab.locusts) == 4
    others = [c for c in rows if c.startswith((D + "__crud", A + "__cold", C + "__cold"))]
    assert {rows[c]["status"] for c in others if c != _window(D, 2)} == {"ok"}


def test_a_row_added_behind_the_harness_fails_the_window_loudly(
    faulty_run: tuple[Path, Saboteur],
) -> None:
    run_dir, _ = faulty_run
    rows = _rows(run_dir)
    window = _window(D, 2)
    assert (rows[window]["status"], rows[window]["integrity"]) == ("failed", "failed")
    assert "data integrity check failed" in _error(run_dir, window)
    ok = [c for c, r in rows.items() if r["status"] == "ok" and r["cold"] != "true"]
    assert ok and {rows[c]["integrity"] for c in ok} == {"ok"}
