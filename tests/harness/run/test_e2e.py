"""A real run through `python -m harness run` (the rounds design): results match the
per-request records, and nothing is left running, also after Ctrl-C (both designs)."""

from __future__ import annotations

import csv
import gzip
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.core.marks import marked_pids
from harness.results.format import CELL_COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[3]
TINY = REPO_ROOT / "tests" / "fixtures" / "tiny.toml"

pytestmark = [pytest.mark.slow, pytest.mark.cpus]


def read_cells(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "cells.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CELL_COLUMNS
        return list(reader)


def read_requests(cell_dir: Path) -> list[dict[str, str]]:
    with gzip.open(cell_dir / "requests.csv.gz", "rt", newline="") as f:
        return list(csv.DictReader(f))


def test_tiny_run_rows_match_the_records(tiny_run: Path) -> None:
    rows = read_cells(tiny_run)
    stacks = ["raw-wsgi@gunicorn-sync-w1", "fastapi-async@uvicorn-w1"]
    # A cold window per stack first (round 0, every kind of the mixes), then the round.
    cold, measured = rows[:2], rows[2:]
    assert [r["stack"] for r in cold] == stacks and {r["cold"] for r in cold} == {"true"}
    assert [(r["mix"], r["round"]) for r in cold] == [("_cold", "0")] * 2
    assert sorted(r["stack"] for r in measured) == sorted(stacks)
    assert [r["order"] for r in measured] == ["1", "2"]
    assert {(r["mix"], r["round"], r["cold"]) for r in measured} == {("json", "1", "false")}
    for row in rows:
        assert row["status"] == "ok", row
        cell_dir = tiny_run / "raw" / row["cell"]
        info = json.loads((cell_dir / "cell.json").read_text())
        start, end = info["measure_start"], info["measure_end"]
        assert end - start == pytest.approx(float(row["measure_s"]))
        records = read_requests(cell_dir)
        # Warm-up is stored too: some records start before the window.
        assert min(float(r["t_start"]) for r in records) < start
        inside = [r for r in records if start <= float(r["t_start"]) < end]
        assert int(row["requests"]) == len(inside) > 0
        assert int(row["errors"]) == sum(1 for r in inside if r["ok"] == "0")
        ok_ms = np.array([int(r["latency_us"]) / 1000 for r in inside if r["ok"] == "1"])
        for column, q in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99), ("p999_ms", 99.9)):
            assert float(row[column]) == pytest.approx(np.percentile(ok_ms, q), abs=1e-5)
        assert float(row["max_ms"]) == pytest.approx(ok_ms.max(), abs=1e-5)
        assert float(row["rps"]) == pytest.approx(len(inside) / (end - start), rel=1e-6)
        assert {r["name"] for r in inside} == {"GET /json", "GET /plaintext"}
        assert float(row["window_start"]) == pytest.approx(start)
        assert row["server_cpus"] == "1" and row["load_cpus"] == "0"
        assert float(row["server_cpu_pct"]) > 0 and float(row["server_rss_mb"]) > 0
        assert info["locust_requests"] == len(records)


def test_tiny_run_raw_files_and_metadata(tiny_run: Path) -> None:
    for cell_dir in (tiny_run / "raw").iterdir():
        with (cell_dir / "monitor.csv").open() as f:
            monitor = list(csv.DictReader(f))
        assert len(monitor) >= 5
        info = json.loads((cell_dir / "cell.json").read_text())
        # The servers stay up for the run: their logs are the stacks'; one Locust a round.
        stack_dir = tiny_run / "stacks" / info["stack"]["id"]
        assert (stack_dir / "server.log").exists()
        assert Path(info["driven"]["control_dir"], "locust.log").exists()
        assert info["driven"]["server_address"].startswith("127.0.1.")
        assert info["users_joined"] == 4 and info["users_killed"] == 0
        assert info["status"] == "ok" and info["error"] is None
        assert info["command"][0] in (sys.executable, str(Path(sys.executable).parent / "uwsgi"))
        assert "DJANGO_SECRET_KEY" not in info["env"]
        assert info["env"]["DATABASE_URL"].startswith("sqlite:///")
    metadata = json.loads((tiny_run / "metadata.json").read_text())
    expected = {
        "schema_version", "run_id", "scenario", "machine", "python", "packages", "git",
        "cpu_sets", "started_at", "ended_at", "cells_planned",
    }  # fmt: skip
    assert expected <= set(metadata)
    assert metadata["run_id"] == tiny_run.name
    assert metadata["scenario"]["name"] == "tiny"
    assert metadata["scenario"]["content"]["load"]["measure_s"] == 2
    assert metadata["cells_planned"] == 2 and metadata["ended_at"]
    assert (metadata["design"], metadata["rounds"]) == ("rounds", 1)
    assert isinstance(metadata["order_seed"], int)
    spent = metadata["time"]
    # Two windows of 2 s count; the cold windows do not.
    assert 0 < spent["measured_s"] == 2 * 2 <= spent["wall_s"]
    assert spent["measured_fraction"] == pytest.approx(
        spent["measured_s"] / spent["wall_s"], abs=1e-3
    )
    assert set(metadata["stacks"]) == {"raw-wsgi@gunicorn-sync-w1", "fastapi-async@uvicorn-w1"}
    assert set(metadata["machine"]) == {"cpu_model", "cores", "memory_gb", "kernel", "hostname"}
    assert metadata["cpu_sets"]["server"] == [1] and metadata["cpu_sets"]["load"] == [0]
    assert "locust" in {k.lower() for k in metadata["packages"]}
    assert set(metadata["git"]) == {"commit", "dirty"}
    secret_free = (tiny_run / "metadata.json").read_text() + "".join(
        p.read_text() for p in (tiny_run / "raw").glob("*/cell.json")
    )
    assert "DJANGO_SECRET_KEY" not in secret_free


def test_tiny_run_leaves_no_process(tiny_run: Path) -> None:
    assert marked_pids(tiny_run.name) == []


@pytest.mark.parametrize("design", ["rounds", "isolated"])
def test_ctrl_c_stops_everything_and_keeps_finished_cells(tmp_path: Path, design: str) -> None:
    scenario = tmp_path / "tiny.toml"
    # Ctrl-C is the subject: the isolated design must not wait for earlier tests' TIME_WAIT.
    load = f'[load]\ndesign = "{design}"\ntime_wait_drain_s = 0'
    scenario.write_text(TINY.read_text().replace("[load]", load))
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(scenario), "--results-dir", str(results)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        cells_csv = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            runs = list(results.glob("*/cells.csv"))
            if runs and len(runs[0].read_text().splitlines()) >= 2:
                cells_csv = runs[0]
                break
            time.sleep(0.2)
        assert cells_csv is not None, "the first cell never finished"
        run_id = cells_csv.parent.name
        time.sleep(1)  # inside the next cell: servers and Locust are running
        assert marked_pids(run_id), "expected the second cell's processes to be running"
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    written = {
        c.parent.name: json.loads(c.read_text()) for c in cells_csv.parent.glob("raw/*/cell.json")
    }
    failed = [
        f"{cell}: {j.get('error')}" for cell, j in written.items() if j.get("status") == "failed"
    ]
    assert proc.returncode == 130, f"{output}\nfailed cells: {failed}"
    assert "interrupted" in output
    assert marked_pids(run_id) == []
    rows = read_cells(cells_csv.parent)
    assert 1 <= len(rows) < (4 if design == "rounds" else 2)
    assert {r["status"] for r in rows} == {"ok"}
    metadata = json.loads((cells_csv.parent / "metadata.json").read_text())
    assert metadata["ended_at"] and metadata["aborted"]
