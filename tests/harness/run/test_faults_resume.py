"""Ctrl-C to a real run (rounds design) after its first measured window: every child gone
within 5 s, the finished windows intact, and `run --resume` starts the stacks again (a
cold window each, s2) and finishes the rest to the cells an uninterrupted run has."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.core.marks import marked_pids
from harness.plan.cells import plan_cells
from harness.plan.scenario import load_scenario
from tests.conftest import need
from tests.harness.run.services_helpers import (
    EVERY_KIND,
    kinds,
    started_by,
    wait_all_gone,
    wait_for_first_window,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
SCENARIO = REPO_ROOT / "tests" / "fixtures" / "faults_crud.toml"
SERVICES_ALL = REPO_ROOT / "tests" / "fixtures" / "services_all.toml"

pytestmark = [pytest.mark.slow, pytest.mark.cpus]


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _rows(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / "cells.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _stop(proc: subprocess.Popen[str]) -> None:
    """On a failed assertion: let the harness clean up after itself, then make sure."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _measured(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["cold"] != "true"]


def _wait_for_first_cell(results: Path, proc: subprocess.Popen[str]) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        runs = [p for p in results.iterdir() if p.is_dir()]
        if runs and _measured(_rows(runs[0])):
            return runs[0]
        time.sleep(0.05)
    raise AssertionError("the first cell did not finish within 120 s")


def test_interrupt_after_first_cell_then_resume(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(SCENARIO), "--results-dir", str(results)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        run_dir = _wait_for_first_cell(results, proc)
        proc.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        _out, err = proc.communicate(timeout=30)
    finally:
        _stop(proc)
    assert proc.returncode == 130, err
    # Every child of the run (server workers, Locust) is gone within 5 s of the signal.
    while marked_pids(run_dir.name) and time.monotonic() < signalled + 5:
        time.sleep(0.05)
    assert marked_pids(run_dir.name) == []
    before = _rows(run_dir)
    first = _measured(before)
    assert len(first) == 1 and first[0]["status"] == "ok" and first[0]["integrity"] == "ok"
    assert [r["cell"] for r in before if r["cold"] == "true"] == [
        "flask@gunicorn-gthread-w2t4__cold__s1", "fastapi-sync@uvicorn-w1__cold__s1",
    ]  # fmt: skip
    first_info = (run_dir / "raw" / first[0]["cell"] / "cell.json").read_text()
    assert "--resume" in err or "--resume" in _out

    # A changed scenario is refused, naming the file and the key; nothing is run.
    changed = tmp_path / "changed.toml"
    changed.write_text(SCENARIO.read_text().replace("measure_s = 1.5", "measure_s = 2"))
    refused = _harness("run", str(changed), "--resume", str(run_dir))
    assert refused.returncode == 2, refused.stderr
    assert "load.measure_s: 1.5 in the run, 2 in the file" in refused.stderr
    assert "changed.toml" in refused.stderr
    assert len(_rows(run_dir)) == 3

    done = _harness("run", str(SCENARIO), "--resume", run_dir.name, "--results-dir", str(results))
    assert done.returncode == 0, done.stderr
    rows = _rows(run_dir)
    seed = json.loads((run_dir / "metadata.json").read_text())["order_seed"]
    planned = [c.id for c in plan_cells(load_scenario(SCENARIO), seed)]
    assert [r["cell"] for r in _measured(rows)] == planned
    assert rows[:3] == before  # the finished windows were not redone
    assert (run_dir / "raw" / first[0]["cell"] / "cell.json").read_text() == first_info
    # The stack with a window left started again: a cold window first (s2).
    (left,) = [c for c in planned if c != first[0]["cell"]]
    assert [r["cell"] for r in rows[3:5]] == [f"{left.split('__')[0]}__cold__s2", left]
    assert [(r["status"], r["integrity"]) for r in _measured(rows)] == [("ok", "ok")] * 2
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert [(r["cells_done"], r["cells_to_run"]) for r in metadata["resumes"]] == [(3, 1)]
    assert metadata["cells_finished"] == 5 and metadata["aborted"] is None
    assert [p.name for p in results.iterdir()] == [run_dir.name]
    assert marked_pids(run_dir.name) == []


def test_sigterm_mid_load_stops_every_child_within_5_s(tmp_path: Path) -> None:
    need("initdb", "postgres", "pgbouncer", "nginx")
    results = tmp_path / "results"
    results.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(SERVICES_ALL), "--results-dir", str(results)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        run_dir = wait_for_first_window(results, proc)
        children = started_by(proc.pid, run_dir.name)
        # Server workers, Locust, the upstream service, postgres, pgbouncer and nginx.
        assert kinds(children) == set(EVERY_KIND)
        proc.send_signal(signal.SIGTERM)
        assert wait_all_gone(children, 5) == [], kinds(children)
        _out, err = proc.communicate(timeout=30)
    finally:
        _stop(proc)
    assert proc.returncode == 130, err
    assert marked_pids(run_dir.name) == []
    (cell_dir,) = list((run_dir / "raw").iterdir())
    assert json.loads((cell_dir / "cell.json").read_text())["status"] == "interrupted"
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert "SIGTERM" in metadata["aborted"]
    assert _rows(run_dir) == []
