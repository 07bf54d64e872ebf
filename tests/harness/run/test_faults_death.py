"""The harness's own sudden death and the faults around it, provoked for real:

- SIGKILL of the harness mid-window, with PostgreSQL, pgbouncer, nginx, Gunicorn's
  workers, Locust and the upstream service up: none of them alive 5 s later;
- processes left by a harness that died with no reaper: the next command stops them and
  says so;
- a server worker killed from outside (as the OOM killer does): its window fails, the
  stack and the run go on;
- a second run on the CPUs of a live one: refused, naming it; with --allow-concurrent it
  runs and every window names the other run;
- the disk filling up mid-run: a clear error naming the path, a valid cells.csv, and a
  resume that completes the run once there is room.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.core.marks import HARNESS_PID_ENV, RUN_ID_ENV, marked_pids
from harness.core.procs import ProcessRegistry
from harness.plan.cells import plan_cells
from harness.plan.scenario import load_scenario, parse_scenario
from harness.run import cpulock
from harness.run.runner import run_cpus, run_scenario
from tests.conftest import need, run_harness
from tests.harness.run.services_helpers import (
    EVERY_KIND,
    kinds,
    started_by,
    wait_all_gone,
    wait_for_first_window,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVICES_ALL = REPO_ROOT / "tests" / "fixtures" / "services_all.toml"

pytestmark = [pytest.mark.slow, pytest.mark.cpus]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _finish(proc: subprocess.Popen[str]) -> None:
    """On a failed assertion: let the harness clean up after itself, then make sure."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _rows(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / "cells.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_sigkill_of_the_harness_mid_window_leaves_nothing_running(tmp_path: Path) -> None:
    need("initdb", "postgres", "pgbouncer", "nginx")
    results = tmp_path / "results"
    results.mkdir()
    proc = _start("run", str(SERVICES_ALL), "--results-dir", str(results))
    try:
        run_dir = wait_for_first_window(results, proc)
        children = started_by(proc.pid, run_dir.name)
        assert kinds(children) == set(EVERY_KIND)
        proc.kill()  # SIGKILL: no handler of the harness runs
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        left = wait_all_gone(children, 5)
        assert left == [], f"alive 5 s after the harness died: {kinds(left)} ({left})"
    finally:
        _finish(proc)
    assert marked_pids(run_dir.name) == []


def test_the_next_command_stops_what_a_dead_harness_left(tmp_path: Path) -> None:
    # A harness that is gone: a process that has exited and been waited for.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    left_behind = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, RUN_ID_ENV: "dead-run-1", HARNESS_PID_ENV: str(gone.pid)},
        start_new_session=True,
    )
    # nginx's way: the marks only in its command line.
    titled = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)",
         f"env {RUN_ID_ENV}=dead-run-2; env {HARNESS_PID_ENV}={gone.pid};"],
        start_new_session=True,
    )  # fmt: skip
    # A live harness's process is left alone: this test's own pid is alive.
    kept = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, RUN_ID_ENV: "live-run", HARNESS_PID_ENV: str(os.getpid())},
        start_new_session=True,
    )
    try:
        result = run_harness("list")
        assert result.returncode == 0, result.stderr
        assert f"left by run dead-run-1, whose harness (pid {gone.pid}) is gone" in result.stdout
        assert f"left by run dead-run-2, whose harness (pid {gone.pid}) is gone" in result.stdout
        assert "live-run" not in result.stdout
        for proc in (left_behind, titled):
            assert proc.wait(timeout=5) == -signal.SIGKILL
        assert kept.poll() is None
    finally:
        for proc in (left_behind, titled, kept):
            proc.kill()
            proc.wait()


# A two-worker Gunicorn: one worker is SIGKILLed during its round-1 window.
WORKER_KILL = {
    "name": "worker-kill",
    "load": {
        "warmup_s": 0.5, "measure_s": 1.5, "users": [2], "rounds": 2, "seed": 3,
        "stop_timeout_s": 1, "request_timeout_s": 5, "time_wait_drain_s": 0,
    },
    "cpus": {"server": [1], "load": [0]},
    "stacks": [{"apps": ["raw-wsgi"], "servers": ["gunicorn-sync"], "workers": [2]}],
    "mixes": {"json": {"json": 1}},
}  # fmt: skip
WORKER_STACK = "raw-wsgi@gunicorn-sync-w2"


def test_a_worker_killed_mid_window_fails_that_window_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(WORKER_KILL, "worker kill (test)", tmp_path / "s.toml")
    servers: list[subprocess.Popen[bytes]] = []
    killed: list[int] = []
    real_spawn = ProcessRegistry.spawn

    def spawn(procs: Any, argv: Any, **kw: Any) -> subprocess.Popen[bytes]:
        proc: subprocess.Popen[bytes] = real_spawn(procs, argv, **kw)
        if Path(kw["log_path"]).name == "server.log":
            servers.append(proc)
        return proc

    def saboteur(stop: threading.Event) -> None:
        target = f"{WORKER_STACK}__json__u2__r1"
        while not stop.is_set():
            for spec in tmp_path.glob("*/rounds/*/window-*.json"):
                with contextlib.suppress(OSError, ValueError, KeyError):
                    if json.loads(spec.read_text())["cell"] == target:
                        time.sleep(0.8)  # inside the measure window
                        (worker, *_) = psutil.Process(servers[0].pid).children()
                        os.kill(worker.pid, signal.SIGKILL)
                        killed.append(worker.pid)
                        return
            time.sleep(0.02)

    stop = threading.Event()
    watcher = threading.Thread(target=saboteur, args=(stop,), daemon=True)
    mp = pytest.MonkeyPatch()
    mp.setattr(ProcessRegistry, "spawn", spawn)
    watcher.start()
    try:
        run_dir = run_scenario(scenario, tmp_path, out=lambda _line: None, use_calibration=False)
    finally:
        stop.set()
        mp.undo()
        watcher.join(timeout=5)
    assert len(killed) == 1 and len(servers) == 1
    rows = {r["cell"]: r for r in _rows(run_dir)}
    hit = rows[f"{WORKER_STACK}__json__u2__r1"]
    assert hit["status"] == "failed"
    error = json.loads((run_dir / "raw" / hit["cell"] / "cell.json").read_text())["error"]
    assert f"server worker(s) {killed[0]} exited during the window" in error
    assert "in their place" in error  # Gunicorn's master started another
    # The master lives on with a new worker: the next round's window is measured.
    assert rows[f"{WORKER_STACK}__json__u2__r2"]["status"] == "ok"
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert metadata["stacks"][WORKER_STACK].get("failed") in (None, "")
    assert marked_pids(run_dir.name) == []


# One stack, short windows: the run that holds the CPUs, or the one refused.
SMALL = """name = "small"
[load]
warmup_s = 0.3
measure_s = {measure}
users = [2]
rounds = {rounds}
stop_timeout_s = 1
time_wait_drain_s = 0
[cpus]
server = [1]
load = [0]
[[stacks]]
apps = ["raw-asgi"]
servers = ["uvicorn"]
[mixes.json]
json = 1
"""


def _small(tmp_path: Path, name: str, measure: float = 1.0, rounds: int = 1) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(SMALL.format(measure=measure, rounds=rounds))
    return path


def test_a_second_run_on_the_same_cpus_is_refused_naming_the_first(tmp_path: Path) -> None:
    first_results, second_results = tmp_path / "first", tmp_path / "second"
    first = _start(
        "run", str(_small(tmp_path, "first", measure=3, rounds=1)),
        "--results-dir", str(first_results),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list(first_results.glob("*/metadata.json")):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (first_run,) = [p.name for p in first_results.iterdir()]
        second = run_harness(
            "run", str(_small(tmp_path, "second")), "--results-dir", str(second_results)
        )
        assert first.poll() is None, "the first run ended before the second was tried"
        assert second.returncode == 1, second.stdout + second.stderr
        assert f"in use by run {first_run}" in second.stderr
        assert f"pid {first.pid}" in second.stderr and "--allow-concurrent" in second.stderr
        assert not second_results.exists() or not any(second_results.iterdir())
        first.send_signal(signal.SIGINT)  # still running (checked above): stop it now
        _out, err = first.communicate(timeout=60)
    finally:
        _finish(first)
    assert first.returncode == 130 and "interrupted" in err, err
    assert marked_pids(first_run) == []


def test_allow_concurrent_runs_and_flags_every_window(tmp_path: Path) -> None:
    scenario = load_scenario(_small(tmp_path, "second"))
    # This test holds the CPUs as a run would, for the whole of the second run.
    with cpulock.holding(run_cpus(scenario), "run holder-for-the-test"):
        refused = run_harness("run", str(scenario.path), "--results-dir", str(tmp_path / "r1"))
        assert refused.returncode == 1 and "holder-for-the-test" in refused.stderr
        allowed = run_harness(
            "run", str(scenario.path), "--results-dir", str(tmp_path / "r2"),
            "--allow-concurrent",
        )  # fmt: skip
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "CONCURRENT with run holder-for-the-test" in allowed.stdout
    (run_dir,) = list((tmp_path / "r2").iterdir())
    rows = _rows(run_dir)
    assert rows and all("run holder-for-the-test" in r["concurrent"] for r in rows)
    report = run_harness("report", str(run_dir))
    assert report.returncode == 0, report.stderr
    assert "badge-concurrent" in (run_dir / "report.html").read_text()


@contextlib.contextmanager
def _tmpfs(path: Path, size_mib: int) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        message = f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(path: Path) -> None:
    """Write to path until the file system refuses: ENOSPC."""
    chunk = b"\0" * 2**20
    with path.open("wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    # What was left under a whole chunk.
    with contextlib.suppress(OSError), path.open("ab") as f:
        for _ in range(2**20 // 4096):
            f.write(b"\0" * 4096)
            f.flush()


def test_a_full_disk_stops_the_run_cleanly_and_resume_completes_it(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    with _tmpfs(disk, 96):
        results = disk / "results"
        scenario = _small(tmp_path, "full", measure=0.8, rounds=3)
        proc = _start("run", str(scenario), "--results-dir", str(results))
        filler = disk / "filler"
        try:
            deadline = time.monotonic() + 90
            while True:  # the cold window and the first measured one are in
                runs = list(results.glob("*/cells.csv"))
                if runs and len(_rows(runs[0].parent)) >= 2:
                    break
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "no window finished"
                time.sleep(0.02)
            _fill(filler)
            _out, err = proc.communicate(timeout=120)
        finally:
            _finish(proc)
        (run_dir,) = list(results.iterdir())
        assert proc.returncode == 1, err
        assert "No space left on device" in err or "MiB free" in err, err
        assert str(run_dir) in err and "--resume" in err
        kept = _rows(run_dir)  # a whole CSV: every row it holds is whole and measured
        assert len(kept) >= 2 and {r["status"] for r in kept} == {"ok"}
        assert not list(run_dir.glob(".*.tmp"))
        assert marked_pids(run_dir.name) == []

        still_full = run_harness("run", str(scenario), "--resume", str(run_dir))
        assert still_full.returncode == 1 and "MiB free" in still_full.stderr

        filler.unlink()
        resumed = run_harness("run", str(scenario), "--resume", str(run_dir))
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        rows = _rows(run_dir)
    planned = {c.id for c in plan_cells(load_scenario(scenario), 0)}
    measured = {r["cell"] for r in rows if r["cold"] != "true"}
    assert measured == planned and {r["status"] for r in rows} == {"ok"}
