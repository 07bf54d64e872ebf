"""harness.core.procs: pinned children in their own group, stopped whole, marker net."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.core.marks import kill_marked, marked_pids
from harness.core.procs import ProcessRegistry, cpu_list
from harness.run.launch import free_port
from tests.conftest import need

REPO_ROOT = Path(__file__).resolve().parents[3]

# A parent that ignores SIGTERM and a child that does too: only SIGKILL ends them.
STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def test_cpu_list_format() -> None:
    assert cpu_list([0]) == "0"
    assert cpu_list([1, 0]) == "0-1"
    assert cpu_list([0, 2, 3, 5]) == "0,2-3,5"


def test_stubborn_group_is_killed_pinned_and_marked(tmp_path: Path) -> None:
    run_id = f"test-procs-{os.getpid()}-{time.monotonic_ns()}"
    procs = ProcessRegistry(run_id)
    cpu = min(os.sched_getaffinity(0))
    log = tmp_path / "out.log"
    proc = procs.spawn(
        [sys.executable, "-c", STUBBORN],
        cpus=[cpu],
        env=dict(os.environ),
        log_path=log,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 10
    while not log.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    child_pid = int(log.read_text().split()[0])
    assert os.sched_getaffinity(proc.pid) == {cpu}
    assert os.sched_getaffinity(child_pid) == {cpu}
    assert os.getpgid(child_pid) == proc.pid
    assert set(marked_pids(run_id)) == {proc.pid, child_pid}
    started = time.monotonic()
    procs.stop(proc, timeout=0.5)
    assert time.monotonic() - started < 8
    assert proc.returncode is not None
    assert marked_pids(run_id) == []
    assert not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == "zombie"


def test_stop_all_stops_everything_registered(tmp_path: Path) -> None:
    run_id = f"test-procs-all-{os.getpid()}-{time.monotonic_ns()}"
    procs = ProcessRegistry(run_id)
    for i in range(2):
        procs.spawn(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            cpus=sorted(os.sched_getaffinity(0)),
            env=dict(os.environ),
            log_path=tmp_path / f"{i}.log",
            cwd=tmp_path,
        )
    deadline = time.monotonic() + 5
    while len(marked_pids(run_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(marked_pids(run_id)) == 2
    procs.stop_all(timeout=2)
    assert marked_pids(run_id) == []


# A harness that starts nginx through the registry, prints its pid and then dies by
# SIGKILL: no cleanup runs, nginx (master and worker) is left behind.
ABANDON_NGINX = """
import os, signal, sys, time
from pathlib import Path
from harness.core.procs import ProcessRegistry
from harness.run.services import nginx
work = Path(sys.argv[1])
procs = ProcessRegistry(sys.argv[2])
config = nginx.config_text(work / "none.sock", int(sys.argv[3]), "http", work,
                           client_keepalive=True)
proxy = nginx.start(procs, work, sorted(os.sched_getaffinity(0)), config)
deadline = time.monotonic() + 10
while not (work / "nginx.pid").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
print(proxy.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_nginx_left_by_a_killed_harness_is_found_and_killed(tmp_path: Path) -> None:
    need("nginx")
    run_id = f"test-procs-nginx-{os.getpid()}-{time.monotonic_ns()}"
    harness = subprocess.run(
        [sys.executable, "-c", ABANDON_NGINX, str(tmp_path), run_id, str(free_port())],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert harness.returncode == -signal.SIGKILL, harness.stderr
    master = int(harness.stdout.split()[0])
    try:
        deadline = time.monotonic() + 10
        while len(marked_pids(run_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        found = marked_pids(run_id)
        workers = [p.pid for p in psutil.Process(master).children()]
        # Its environment says nothing (nginx wrote its title over it): the title does.
        assert b"PWB_RUN_ID" not in Path(f"/proc/{master}/environ").read_bytes()
        assert set(found) == {master, *workers} and workers, (found, workers)
        kill_marked(run_id)
        deadline = time.monotonic() + 5
        while marked_pids(run_id) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marked_pids(run_id) == []
        assert not psutil.pid_exists(master) or psutil.Process(master).status() == "zombie"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(master, signal.SIGKILL)
