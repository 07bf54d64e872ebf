"""harness.measure.monitor: samples a real process tree; means over a window."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.measure.monitor import MONITOR_COLUMNS, Monitor, Sample, means
from harness.results.format import SERVICE_COLUMNS

# A parent that burns CPU and starts one sleeping child: the tree has two processes.
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
end = time.monotonic() + 30
while time.monotonic() < end:
    pass
"""


def _monitored(server: subprocess.Popen[str], path: Path) -> tuple[Monitor, list[dict[str, str]]]:
    """Monitor the server's tree (and a sleeping stand-in for Locust) for 1.5 s; stop both
    processes and return the monitor and its monitor.csv rows."""
    locust = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        monitor = Monitor(server.pid, locust.pid, path).start()
        time.sleep(1.5)
        monitor.stop()
    finally:
        for proc in (server, locust):
            proc.kill()
            proc.wait()
    with path.open() as f:
        return monitor, list(csv.DictReader(f))


def test_monitor_samples_the_whole_tree(tmp_path: Path) -> None:
    server = subprocess.Popen([sys.executable, "-c", TREE], text=True)
    monitor, rows = _monitored(server, tmp_path / "monitor.csv")
    assert list(rows[0]) == list(MONITOR_COLUMNS)
    assert len(rows) >= 5
    later = rows[3:]
    assert max(int(r["server_procs"]) for r in later) == 2
    # A busy loop: well above zero even on a machine shared with other work.
    assert max(float(r["server_cpu_pct"]) for r in later) > 5
    assert min(float(r["server_rss_mb"]) for r in later) > 5
    assert len(monitor.samples) == len(rows)


def test_means_use_only_the_window() -> None:
    samples = [Sample(t, cpu, 100.0, 1, 10.0) for t, cpu in [(1, 500.0), (2, 50.0), (3, 70.0)]]
    m = means(samples, 2, 4)
    assert m.server_cpu_pct == 60.0 and m.server_rss_mb == 100.0
    assert math.isnan(means(samples, 10, 11).server_cpu_pct)


def test_services_are_sampled_as_their_own_trees(tmp_path: Path) -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    server, locust = subprocess.Popen(sleeper), subprocess.Popen(sleeper)
    nginx = subprocess.Popen([sys.executable, "-c", TREE])
    path = tmp_path / "monitor.csv"
    try:
        monitor = Monitor(server.pid, locust.pid, path, {"nginx": nginx.pid}).start()
        time.sleep(1.5)
        monitor.stop()
    finally:
        for proc in (server, locust, nginx):
            proc.kill()
            proc.wait()
    with path.open() as f:
        rows = list(csv.DictReader(f))[3:]
    assert max(float(r["nginx_cpu_pct"]) for r in rows) > 5
    assert min(float(r["nginx_rss_mb"]) for r in rows) > 5
    # Absent services: empty cells, not zeros.
    assert {r["db_cpu_pct"] for r in rows} == {""} == {r["pgbouncer_rss_mb"] for r in rows}
    m = means(monitor.samples, 0, time.time() + 1)
    assert m.nginx_cpu_pct > 5 and math.isnan(m.db_cpu_pct) and math.isnan(m.pgbouncer_rss_mb)
    assert set(SERVICE_COLUMNS) <= set(MONITOR_COLUMNS)


def test_unknown_service_role_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="redis"):
        Monitor(1, 1, tmp_path / "m.csv", {"redis": 1})


# A master that fills 200 MB and forks two workers that only sleep: the workers share the
# master's pages. RSS counts them three times, PSS once, and a worker's USS is small.
FORKED = """
import os, time
ballast = bytes(os.urandom(1 << 20)) * 200
for _ in range(2):
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
print("ready", flush=True)
time.sleep(30)
"""


def test_forked_workers_share_memory_pss_counts_it_once(tmp_path: Path) -> None:
    server = subprocess.Popen([sys.executable, "-c", FORKED], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    monitor, rows = _monitored(server, tmp_path / "monitor.csv")
    full = [r for r in rows if r["server_pss_mb"]]
    assert full, "no sample read PSS"
    # Samples in between read only RSS: their PSS and USS are empty, not zeros.
    assert any(r["server_pss_mb"] == "" == r["worker_uss_mb"] for r in rows)
    last = full[-1]
    assert int(last["server_procs"]) == 3
    rss, pss, uss = (float(last[c]) for c in ("server_rss_mb", "server_pss_mb", "worker_uss_mb"))
    assert rss > 600, rss  # 200 MB counted once per process
    assert 200 < pss < 300, pss  # counted once
    assert uss < 50, uss  # a worker's own pages: the interpreter's, not the ballast
    m = means(monitor.samples, 0, time.time() + 1)
    assert 200 < m.server_pss_mb < 300 and m.worker_uss_mb < 50
