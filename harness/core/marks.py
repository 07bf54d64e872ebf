"""The marks a run's processes carry, and finding processes by them.

Every child gets PWB_RUN_ID (the run) and PWB_HARNESS_PID (the harness that started it)
in its environment; nginx, which writes its process title over its environment, gets
them as harmless `env` directives on its command line (title_marker). From these, a
harness finds its own run's processes (marked_pids, the last net under stopping them) and
those of runs whose harness is gone (orphans, swept by every command at its start).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
from pathlib import Path

import psutil

RUN_ID_ENV = "PWB_RUN_ID"
# Beside the run id in every child's environment: the harness's pid, so that a later
# harness can tell a process whose harness is gone (sweep_orphans).
HARNESS_PID_ENV = "PWB_HARNESS_PID"


def title_marker(run_id: str) -> str:
    """The run's marker for a command line: nginx overwrites its environment with its
    process title, so it gets this as harmless main-context directives (-g "env ...;"),
    which its master's title repeats; see marked_pids and sweep_orphans."""
    return f"env {RUN_ID_ENV}={run_id}; env {HARNESS_PID_ENV}={os.getpid()};"


def _descendants(pid: int) -> list[int]:
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def marked_pids(run_id: str) -> list[int]:
    """Live processes whose environment carries PWB_RUN_ID=run_id, and those whose command
    line carries title_marker(run_id) (an nginx master) with their descendants (its
    workers, whose environment nginx has overwritten too)."""
    marker = f"{RUN_ID_ENV}={run_id}".encode()
    in_title = f"env {RUN_ID_ENV}={run_id};".encode()
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.add(int(entry.name))
        elif in_title in cmdline:
            found.update([int(entry.name), *_descendants(int(entry.name))])
    found.discard(os.getpid())
    return sorted(found)


def _started(pid: int) -> float:
    """When a process started (psutil's create_time), inf when it is gone."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return math.inf


def _marks(environ: bytes, cmdline: bytes) -> tuple[str, int] | None:
    """(run id, harness pid) a process carries: in its environment, or (nginx) in its
    command line's env directives."""
    found: dict[str, str] = {}
    for part in environ.split(b"\0"):
        key, _, value = part.decode(errors="replace").partition("=")
        if key in (RUN_ID_ENV, HARNESS_PID_ENV):
            found[key] = value
    if RUN_ID_ENV not in found:
        text = cmdline.replace(b"\0", b" ").decode(errors="replace")
        for key in (RUN_ID_ENV, HARNESS_PID_ENV):
            start = text.find(f"env {key}=")
            if start >= 0:
                found[key] = text[start + len(key) + 5 :].split(";", 1)[0]
    if RUN_ID_ENV not in found or not found.get(HARNESS_PID_ENV, "").isdigit():
        return None
    return found[RUN_ID_ENV], int(found[HARNESS_PID_ENV])


def orphans() -> dict[tuple[str, int], list[int]]:
    """(run id, harness pid) -> the live processes of runs whose harness is gone: no
    process with that pid, or one started after them (the pid was reused)."""
    found: dict[tuple[str, int], list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            marks = _marks((entry / "environ").read_bytes(), (entry / "cmdline").read_bytes())
        except OSError:
            continue
        if marks is None or marks[1] == os.getpid():
            continue
        pid = int(entry.name)
        if _started(marks[1]) > _started(pid):
            found.setdefault(marks, []).append(pid)
    return found


def sweep_orphans() -> list[str]:
    """Kill what runs whose harness died left behind (SIGKILL, with their descendants);
    one line per run saying what was stopped."""
    lines = []
    for (run_id, harness_pid), pids in sorted(orphans().items()):
        victims = sorted({p for pid in pids for p in (pid, *_descendants(pid))})
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        lines.append(
            f"stopped {len(victims)} process(es) left by run {run_id}, whose harness "
            f"(pid {harness_pid}) is gone"
        )
    return lines


def kill_marked(run_id: str) -> None:
    """SIGKILL every process carrying this run's marker (the net under stop())."""
    for pid in marked_pids(run_id):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
