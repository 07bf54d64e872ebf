"""CPU accounting for a measurement window: the server's CPU time and everybody else's.

On a shared machine other work can steal the CPUs of a measurement. A window records the
busy time of every CPU and the server's own CPU time, so that what was neither the server
nor the load generator ("other") can be reported next to each figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psutil


@dataclass(frozen=True)
class CpuSample:
    """Cumulative counters at one moment (seconds)."""

    wall: float
    busy: tuple[float, ...]  # per CPU: all time but idle and iowait
    server: float  # user + system of the server process tree

    def minus(self, earlier: CpuSample) -> CpuSample:
        """The counters' growth since `earlier`: a window."""
        return CpuSample(
            wall=self.wall - earlier.wall,
            busy=tuple(a - b for a, b in zip(self.busy, earlier.busy, strict=True)),
            server=self.server - earlier.server,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"wall": self.wall, "busy": list(self.busy), "server": self.server}


def _tree_cpu(pid: int) -> float:
    if pid <= 0:
        return 0.0
    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue  # a worker that just exited
            total += times.user + times.system
    except psutil.Error:
        return 0.0
    return total


def take_sample(server_pid: int) -> CpuSample:
    """The counters now; server_pid <= 0 leaves the server's share at 0."""
    busy = tuple(sum(t) - t.idle - t.iowait for t in psutil.cpu_times(percpu=True))
    return CpuSample(wall=time.monotonic(), busy=busy, server=_tree_cpu(server_pid))
