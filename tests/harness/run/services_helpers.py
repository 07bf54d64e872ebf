"""Shared by the services tests: a system binary is required (a failure under CI=true,
a skip elsewhere), and a check that nothing of a run is left."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from harness.core.procs import marked_pids
from harness.run.services.binaries import find

SERVICE_NAMES = ("postgres", "pgbouncer", "nginx")


def need(*names: str) -> None:
    """Fail under CI=true (the system packages are part of CI), skip elsewhere."""
    missing = [n for n in names if find(n) is None]
    if not missing:
        return
    message = f"missing {', '.join(missing)}: run `make system-deps`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


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
