"""Shared by the services and fault tests: what of a run is alive, and a check that
nothing of it is left."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil

from harness.core.marks import marked_pids

SERVICE_NAMES = ("postgres", "pgbouncer", "nginx")


def leftovers(run_id: str, *dirs: Path) -> list[str]:
    """Processes of the run still alive: those carrying its marker, and services whose
    command line names one of dirs (nginx overwrites its environment with its title)."""
    found = [f"pid {pid} (marked)" for pid in marked_pids(run_id)]
    for proc in psutil.process_iter(["pid", "cmdline", "name"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if proc.info["name"] in SERVICE_NAMES and any(str(d) in cmdline for d in dirs):
            found.append(f"pid {proc.info['pid']}: {cmdline}")
    return found


def service_names(run_id: str, *dirs: Path) -> set[str]:
    """Names of the live service processes of a run (see leftovers)."""
    names = set()
    for proc in psutil.process_iter(["pid", "cmdline", "name"]):
        name = proc.info["name"]
        if name not in SERVICE_NAMES:
            continue
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["pid"] in marked_pids(run_id) or any(str(d) in cmdline for d in dirs):
            names.add(name)
    return names


# The kinds of process a run of tests/fixtures/services_all.toml starts, by command line.
EVERY_KIND = ("postgres", "pgbouncer", "nginx", "locust", "gunicorn", "apps.upstream")


def kinds(pids: list[int]) -> set[str]:
    """Which of EVERY_KIND the live processes among pids are."""
    found = set()
    for pid in pids:
        try:
            cmd = " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            continue
        found.update(name for name in EVERY_KIND if name in cmd)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent's wait() is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def started_by(harness_pid: int, run_id: str) -> list[int]:
    """Every process of a running harness: its process tree, and what carries its run's
    marker (nginx rewrites its environment, so the tree finds it)."""
    tree = [c.pid for c in psutil.Process(harness_pid).children(recursive=True)]
    return sorted({*tree, *marked_pids(run_id)})


def wait_all_gone(pids: list[int], seconds: float) -> list[int]:
    """Waits up to seconds for pids to end; returns those still alive."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def wait_for_first_window(results: Path, proc: subprocess.Popen[str]) -> Path:
    """The run directory of a harness run in `results` once its first window has been
    measuring for a second (its specification is in the round's control folder)."""
    deadline = time.monotonic() + 120
    while not list(results.glob("*/rounds/r0/window-1.json")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the load never started"
        time.sleep(0.05)
    time.sleep(1.0)
    (run_dir,) = list(results.iterdir())
    return run_dir
