"""A psutil sampler thread, 5 Hz: the server's whole process tree, Locust's processes, and
the services a run started around the server (nginx, pgbouncer, PostgreSQL), each its own
tree. A service that is not there has NaN figures (empty in cells.csv), never zeros.

Memory is read three ways. RSS, summed over the server's processes, counts every page a
forked worker shares with its master once per worker. PSS (proportional set size) charges
each shared page to its sharers in parts, so the sum over the tree is what the server
really occupies. USS (unique set size) is what one worker holds alone: what each further
worker costs. PSS and USS walk /proc/PID/smaps (about 0.2 ms a process against a few µs for
RSS), so they are read every FULL_MEMORY_EVERY-th sample and are NaN in between."""

from __future__ import annotations

import contextlib
import csv
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.measure.sampling import SamplerThread
from harness.results.format import SERVICE_COLUMNS, SERVICE_ROLES

MONITOR_COLUMNS = (
    "t", "server_cpu_pct", "server_rss_mb", "server_pss_mb", "worker_uss_mb", "server_procs",
    "locust_cpu_pct", *SERVICE_COLUMNS,
)  # fmt: skip
INTERVAL_S = 0.2
FULL_MEMORY_EVERY = 5


@dataclass(frozen=True)
class Sample:
    t: float
    server_cpu_pct: float
    server_rss_mb: float
    server_procs: int
    locust_cpu_pct: float
    # role -> (CPU %, RSS MB) of each service present in the cell.
    services: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # NaN on the samples that do not read them (see FULL_MEMORY_EVERY).
    server_pss_mb: float = math.nan
    worker_uss_mb: float = math.nan


@dataclass(frozen=True)
class MonitorMeans:
    server_cpu_pct: float
    server_rss_mb: float
    locust_cpu_pct: float
    server_pss_mb: float = math.nan
    worker_uss_mb: float = math.nan
    # NaN where the service was not running (cells.csv: empty).
    nginx_cpu_pct: float = math.nan
    nginx_rss_mb: float = math.nan
    pgbouncer_cpu_pct: float = math.nan
    pgbouncer_rss_mb: float = math.nan
    db_cpu_pct: float = math.nan
    db_rss_mb: float = math.nan


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

    def unshared(self) -> tuple[float, float]:
        """(PSS MB summed over the tree, median USS MB of a worker), from the processes of
        the last sample(). The workers are the root's descendants; a server of one process
        is its own worker. NaN where /proc cannot be read (another user's process)."""
        pss = 0.0
        worker_uss: list[float] = []
        for proc in self._known.values():
            try:
                full = proc.memory_full_info()
            except psutil.Error:
                return math.nan, math.nan
            pss += full.pss / 1e6
            if proc.pid != self.root_pid or len(self._known) == 1:
                worker_uss.append(full.uss / 1e6)
        if not worker_uss:
            return math.nan, math.nan
        return pss, statistics.median(worker_uss)


class Monitor(SamplerThread):
    """Samples in a daemon thread until stop(); rows go to monitor.csv as they come.

    services maps a role of SERVICE_ROLES to the pid at the root of that service's tree.
    server_pid None: a server started by the user, possibly elsewhere: its columns stay NaN."""

    def __init__(
        self,
        server_pid: int | None,
        locust_pid: int,
        path: Path,
        services: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__("monitor")
        services = services or {}
        self._server = _Tree(server_pid) if server_pid is not None else None
        self._locust = _Tree(locust_pid)
        unknown = set(services) - set(SERVICE_ROLES)
        if unknown:
            raise ValueError(f"unknown service roles {sorted(unknown)} (known: {SERVICE_ROLES})")
        self._services = {role: _Tree(pid) for role, pid in services.items()}
        self._path = path
        self.samples: list[Sample] = []
        self._count = 0

    def _sample(self) -> Sample:
        cpu, rss, procs = self._server.sample() if self._server else (math.nan, math.nan, 0)
        pss = uss = math.nan
        if self._server and self._count % FULL_MEMORY_EVERY == 0:
            pss, uss = self._server.unshared()
        self._count += 1
        locust_cpu, _, _ = self._locust.sample()
        services = {role: tree.sample()[:2] for role, tree in self._services.items()}
        return Sample(time.time(), cpu, rss, procs, locust_cpu, services, pss, uss)

    def _loop(self) -> None:
        with self._path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(MONITOR_COLUMNS)
            next_at = time.monotonic()
            while not self._stop.is_set():
                s = self._sample()
                self.samples.append(s)
                writer.writerow(_csv_row(s))
                next_at += INTERVAL_S
                self._stop.wait(max(0.0, next_at - time.monotonic()))


def _csv_row(s: Sample) -> list[str]:
    row = [f"{s.t:.3f}", f"{s.server_cpu_pct:.1f}", f"{s.server_rss_mb:.1f}",
           _optional(s.server_pss_mb), _optional(s.worker_uss_mb),
           str(s.server_procs), f"{s.locust_cpu_pct:.1f}"]  # fmt: skip
    for role in SERVICE_ROLES:
        figures = s.services.get(role)
        row += [f"{v:.1f}" for v in figures] if figures is not None else ["", ""]
    return row


def _optional(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.1f}"


def _mean(values: list[float]) -> float:
    """Mean of the values that were read (NaN ones were not); NaN when none were."""
    read = [v for v in values if not math.isnan(v)]
    return sum(read) / len(read) if read else math.nan


def means(samples: Sequence[Sample], start: float, end: float) -> MonitorMeans:
    """Mean of the samples taken inside [start, end); NaN where there are none (and for a
    service absent from them)."""
    inside = [s for s in samples if start <= s.t < end]
    services: dict[str, float] = {}
    for role in SERVICE_ROLES:
        present = [s.services[role] for s in inside if role in s.services]
        services[f"{role}_cpu_pct"] = _mean([cpu for cpu, _ in present])
        services[f"{role}_rss_mb"] = _mean([rss for _, rss in present])
    return MonitorMeans(
        server_cpu_pct=_mean([s.server_cpu_pct for s in inside]),
        server_rss_mb=_mean([s.server_rss_mb for s in inside]),
        server_pss_mb=_mean([s.server_pss_mb for s in inside]),
        worker_uss_mb=_mean([s.worker_uss_mb for s in inside]),
        locust_cpu_pct=_mean([s.locust_cpu_pct for s in inside]),
        **services,
    )
