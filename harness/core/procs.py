"""Child processes: started pinned in their own session, stopped as a whole process group.

Every group the harness starts is registered, so that one call (on success, error, Ctrl-C
or SIGTERM) stops them all, and told to the reaper (harness/core/reaper.py), which stops
them if the harness dies outright. As a last net, processes that carry this run's marker
(harness/core/marks.py) are found through /proc and killed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

import psutil

from harness.core.errors import Interrupted
from harness.core.marks import HARNESS_PID_ENV, RUN_ID_ENV, kill_marked
from harness.core.reaper import Reaper

# After SIGINT or SIGTERM each group gets this long for its stop signal before SIGKILL, so
# that a run's children are gone within seconds, even a server in a long graceful exit.
INTERRUPTED_STOP_S = 1.0
_TASKSET = shutil.which("taskset")


def cpu_list(cpus: Sequence[int]) -> str:
    """CPU numbers as "0", "0-1" or "0,2" (taskset and cells.csv style)."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    start = prev = ordered[0]
    for cpu in [*ordered[1:], None]:
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if cpu is not None:
            start = prev = cpu
    return ",".join(parts)


def _pin(cpus: tuple[int, ...]) -> None:
    os.sched_setaffinity(0, cpus)


class ProcessRegistry:
    """The process groups started by this harness process, each stopped exactly once."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._procs: dict[int, tuple[subprocess.Popen[bytes], signal.Signals]] = {}
        # Set by shutdown_on_signals when the run is interrupted: stops get short.
        self.interrupted = False
        self._lock = threading.Lock()
        # Set by shutdown_on_signals: told of every group, it stops them if we die.
        self.reaper: Reaper | None = None

    def spawn(
        self,
        argv: Sequence[str],
        *,
        cpus: Sequence[int],
        env: dict[str, str],
        log_path: Path,
        cwd: Path,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> subprocess.Popen[bytes]:
        """Start argv pinned to cpus, in a new session, stdout+stderr to log_path."""
        full_env = {**env, RUN_ID_ENV: self.run_id, HARNESS_PID_ENV: str(os.getpid())}
        # taskset pins before exec, so every worker the server forks inherits the set;
        # preexec_fn is the fallback where taskset is missing.
        command = [_TASKSET, "-c", cpu_list(cpus), *argv] if _TASKSET else list(argv)
        preexec = None if _TASKSET else (lambda: _pin(tuple(cpus)))
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                command,
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec,
            )
        with self._lock:
            self._procs[proc.pid] = (proc, stop_signal)
        if self.reaper is not None:
            self.reaper.watch(proc.pid)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
        """Stop signal to the group, wait up to timeout, then SIGKILL the group; reap."""
        with self._lock:
            entry = self._procs.pop(proc.pid, None)
        if entry is None:
            return proc.returncode
        if self.reaper is not None:
            self.reaper.forget(proc.pid)
        stop_signal = entry[1]
        if self.interrupted:
            timeout = min(timeout, INTERRUPTED_STOP_S)
        _signal_group(proc.pid, stop_signal)
        deadline = time.monotonic() + timeout
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        _wait_group_gone(proc.pid, deadline)
        # Workers that outlived their master, or a master that ignored the signal.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
        _wait_group_gone(proc.pid, time.monotonic() + 5.0)
        return proc.returncode

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop every registered group, then kill anything still carrying the run marker."""
        with self._lock:
            procs = [p for p, _ in self._procs.values()]
        for proc in procs:
            self.stop(proc, timeout)
        kill_marked(self.run_id)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """True while a process that is not a zombie remains in the group."""
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def _wait_group_gone(pgid: int, deadline: float) -> None:
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(f"stopped by {signal.Signals(signum).name}")


@contextlib.contextmanager
def shutdown_on_signals(registry: ProcessRegistry) -> Iterator[None]:
    """Turn SIGTERM and SIGINT into Interrupted; always stop every child on the way out."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def interrupted(signum: int, frame: FrameType | None) -> None:
        registry.interrupted = True
        _raise_interrupted(signum, frame)

    for sig in previous:
        signal.signal(sig, interrupted)
    # No handler runs when the harness is killed outright: the reaper stops what is left.
    registry.reaper = Reaper(registry.run_id)
    try:
        yield
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        try:
            registry.stop_all()
            registry.reaper.done()
            registry.reaper = None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
