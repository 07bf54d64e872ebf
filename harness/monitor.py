"""A psutil sampler thread: the server's whole process tree and Locust's processes, 5 Hz."""

from __future__ import annotations

import contextlib
import csv
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

MONITOR_COLUMNS = ("t", "server_cpu_pct", "server_rss_mb", "server_procs", "locust_cpu_pct")
INTERVAL_S = 0.2


@dataclass(frozen=True)
class Sample:
    t: float
    server_cpu_pct: float
    server_rss_mb: float
    server_procs: int
    locust_cpu_pct: float


@dataclass(frozen=True)
class MonitorMeans:
    server_cpu_pct: float
    server_rss_mb: float
    locust_cpu_pct: float


class _Tree:
    """A root process and its descendants, re-listed each sample (workers fork and restart).

    psutil's cpu_percent() measures since the previous call on the same Process object,
    so the objects are kept between samples; a new process counts from its second sample.
    """

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self._known: dict[int, psutil.Process] = {}

    def _members(self) -> list[psutil.Process]:
        try:
            root = self._known.get(self.root_pid) or psutil.Process(self.root_pid)
            current = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        members = []
        for proc in current:
            known = self._known.get(proc.pid)
            # A reused pid is a different process: compare creation times.
            with contextlib.suppress(psutil.Error):
                if known is None or known.create_time() != proc.create_time():
                    known = proc
                    known.cpu_percent(None)
                members.append(known)
        self._known = {p.pid: p for p in members}
        return members

    def sample(self) -> tuple[float, float, int]:
        """(CPU % summed, RSS MB summed, process count)."""
        cpu = rss = 0.0
        members = self._members()
        for proc in members:
            with contextlib.suppress(psutil.Error):
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss / 1e6
        return cpu, rss, len(members)


class Monitor:
    """Samples in a daemon thread until stop(); rows go to monitor.csv as they come."""

    def __init__(self, server_pid: int | None, locust_pid: int, path: Path) -> None:
        # None: a server started by the user, possibly elsewhere: its columns stay NaN.
        self._server = _Tree(server_pid) if server_pid is not None else None
        self._locust = _Tree(locust_pid)
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)
        self.samples: list[Sample] = []

    def start(self) -> Monitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        with self._path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(MONITOR_COLUMNS)
            next_at = time.monotonic()
            while not self._stop.is_set():
                cpu, rss, procs = self._server.sample() if self._server else (math.nan, math.nan, 0)
                locust_cpu, _, _ = self._locust.sample()
                s = Sample(time.time(), cpu, rss, procs, locust_cpu)
                self.samples.append(s)
                writer.writerow(
                    [f"{s.t:.3f}", f"{cpu:.1f}", f"{rss:.1f}", procs, f"{locust_cpu:.1f}"]
                )
                next_at += INTERVAL_S
                self._stop.wait(max(0.0, next_at - time.monotonic()))


def means(samples: Sequence[Sample], start: float, end: float) -> MonitorMeans:
    """Mean of the samples taken inside [start, end); NaN where there are none."""
    inside = [s for s in samples if start <= s.t < end]
    if not inside:
        return MonitorMeans(math.nan, math.nan, math.nan)
    n = len(inside)
    return MonitorMeans(
        server_cpu_pct=sum(s.server_cpu_pct for s in inside) / n,
        server_rss_mb=sum(s.server_rss_mb for s in inside) / n,
        locust_cpu_pct=sum(s.locust_cpu_pct for s in inside) / n,
    )
