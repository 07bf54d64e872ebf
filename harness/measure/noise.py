"""Noise around a cell: other processes' CPU, the load average, TIME_WAIT sockets and the
local port range.

Other processes' CPU = the whole machine's busy CPU minus the harness's own process tree
(which holds the server, Locust and the services): what runs beside the benchmark.
A connection closed after every response leaves a socket in TIME_WAIT for 60 s on the
side that closed first; enough of them exhaust the local port range and the next cell
measures connect() failures and waits instead of the server.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.measure.monitor import _Tree
from harness.measure.sampling import SamplerThread

TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
PORT_RANGE_PATH = Path("/proc/sys/net/ipv4/ip_local_port_range")
TIME_WAIT_STATE = "06"
# Warn when other processes use more than this share of one core during the window.
NOISY_CPU_PCT = 10.0
# Before a cell without keep-alive, wait for TIME_WAIT to fall below this share of the
# local port range (about 7k sockets with Linux's default range; the issue saw a run fall
# from 6.0k to 1.6k requests/s with 18.6k sockets in TIME_WAIT).
TIME_WAIT_DRAIN_FRACTION = 0.25
TIME_WAIT_DRAIN_MAX_S = 60.0
INTERVAL_S = 0.5


def proc_net_address(ip: str) -> str:
    """An IPv4 address as /proc/net/tcp writes it: 127.0.0.1 -> 0100007F."""
    return "".join(f"{int(part):02X}" for part in reversed(ip.split(".")))


def count_time_wait(text: str, pair: tuple[str, str] | None = None) -> int:
    """TIME_WAIT sockets (state 06) in the text of /proc/net/tcp or tcp6; with pair (two
    IPv4 addresses), only those between them, either way round (the sockets a new
    connection between them could collide with)."""
    wanted = {proc_net_address(ip) for ip in pair} if pair else None
    count = 0
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) <= 3 or fields[3] != TIME_WAIT_STATE:
            continue
        if wanted is None or {fields[1].split(":")[0], fields[2].split(":")[0]} == wanted:
            count += 1
    return count


def time_wait_now(tables: Sequence[Path] = TCP_TABLES, pair: tuple[str, str] | None = None) -> int:
    """TIME_WAIT sockets on this machine (both IPv4 and IPv6 tables), or between pair."""
    total = 0
    for path in tables:
        try:
            total += count_time_wait(path.read_text(), pair)
        except OSError:
            continue
    return total


def port_range(text: str) -> tuple[int, int]:
    """(first, last) of /proc/sys/net/ipv4/ip_local_port_range's text."""
    parts = text.split()
    if len(parts) != 2:
        raise ValueError(f"unexpected ip_local_port_range {text!r}")
    return int(parts[0]), int(parts[1])


def port_range_size(path: Path = PORT_RANGE_PATH) -> int:
    try:
        lo, hi = port_range(path.read_text())
    except (OSError, ValueError):
        lo, hi = 32768, 60999  # Linux's default
    return hi - lo + 1


@dataclass(frozen=True)
class Drain:
    """TIME_WAIT before a cell: the count found, the count at the start, seconds waited,
    and why the wait stopped short (None when below the threshold)."""

    found: int
    start: int
    waited_s: float
    not_drained: str | None


def drain_time_wait(
    needed: bool,
    below: int,
    max_s: float = TIME_WAIT_DRAIN_MAX_S,
    count: Callable[[], int] = time_wait_now,
    sleep: Callable[[float], None] = time.sleep,
) -> Drain:
    """Count TIME_WAIT sockets; when needed (a cell without keep-alive), wait up to max_s
    for the count to fall below `below`."""
    found = current = count()
    waited = 0.0
    while needed and current >= below and waited < max_s:
        sleep(1.0)
        waited += 1.0
        current = count()
    reason = None
    if needed and current >= below:
        reason = (
            f"{current} sockets still in TIME_WAIT after {waited:.0f} s "
            f"(the kernel keeps them 60 s; threshold {below})"
        )
    return Drain(found, current, waited, reason)


# /proc/stat's per-CPU fields (user nice system idle iowait irq softirq steal ...): the
# kernel's network work outside any process (softirq, ~18% of a loopback server's CPU
# here) and the time the host took from the guest (steal).
SOFTIRQ_FIELD, STEAL_FIELD = 6, 7
STAT_PATH = Path("/proc/stat")


def cpu_times(text: str) -> dict[int, tuple[int, int, int]]:
    """Per CPU (total, softirq, steal) clock ticks from /proc/stat's text."""
    times = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        ticks = [int(x) for x in rest.split()]
        # guest time is already inside user time: the first 8 fields are the whole.
        times[int(name[3:])] = (sum(ticks[:8]), ticks[SOFTIRQ_FIELD], ticks[STEAL_FIELD])
    return times


def _cpu_times_now() -> dict[int, tuple[int, int, int]]:
    try:
        return cpu_times(STAT_PATH.read_text())
    except (OSError, ValueError, IndexError):
        return {}


@dataclass(frozen=True)
class NoiseSample:
    t: float
    other_cpu_pct: float
    load_avg_1m: float
    # Locust's demand: % of wall time its processes' main threads were running or waiting
    # for a CPU (/proc/<pid>/schedstat), summed. On a busy machine Locust's CPU share can
    # stay low while it never idles: it is still the limit.
    locust_busy_pct: float = 0.0
    # Per CPU (total, softirq, steal) ticks so far (cpu_times).
    cpu_ticks: dict[int, tuple[int, int, int]] = field(default_factory=dict)


def read_schedstat(text: str) -> int:
    """Nanoseconds running + waiting on a run queue, from /proc/<pid>/schedstat's text."""
    parts = text.split()
    return int(parts[0]) + int(parts[1])


def _is_locust(proc: psutil.Process) -> bool:
    try:
        return "locust" in proc.cmdline()[1:3]
    except psutil.Error:
        return False


class _Demand:
    """Running + runnable time of the Locust processes among the harness tree's members."""

    def __init__(self) -> None:
        self._last: dict[tuple[int, float], int] = {}
        self._locust: dict[tuple[int, float], bool] = {}
        self._at = time.monotonic()

    def sample(self, members: Sequence[psutil.Process]) -> float:
        now, busy_ns, seen = time.monotonic(), 0, {}
        for proc in members:
            try:
                key = (proc.pid, proc.create_time())
            except psutil.Error:
                continue
            if key not in self._locust:
                self._locust[key] = _is_locust(proc)
            if not self._locust[key]:
                continue
            try:
                ns = read_schedstat(Path(f"/proc/{proc.pid}/schedstat").read_text())
            except (OSError, ValueError, IndexError):
                continue
            seen[key] = ns
            if key in self._last:
                busy_ns += ns - self._last[key]
        wall_ns = (now - self._at) * 1e9
        self._last, self._at = seen, now
        return 100.0 * busy_ns / wall_ns if wall_ns > 0 else 0.0


class _HarnessTree(_Tree):
    """The harness's process tree, keeping the members of the last sample."""

    members: list[psutil.Process] = []  # noqa: RUF012 (replaced per instance)

    def _members(self) -> list[psutil.Process]:
        self.members = super()._members()
        return self.members


class NoiseSampler(SamplerThread):
    """Samples the machine's busy CPU minus the harness tree's, and the 1-minute load average,
    in a daemon thread until stop()."""

    def __init__(self, root_pid: int | None = None) -> None:
        super().__init__("noise")
        self._tree = _HarnessTree(root_pid or os.getpid())
        self.samples: list[NoiseSample] = []

    def _loop(self) -> None:
        demand = _Demand()
        psutil.cpu_percent(None)
        self._tree.sample()
        while not self._stop.wait(INTERVAL_S):
            total = psutil.cpu_percent(None) * (psutil.cpu_count() or 1)
            ours, _, _ = self._tree.sample()
            busy = demand.sample(self._tree.members)
            self.samples.append(
                NoiseSample(
                    time.time(), max(0.0, total - ours), os.getloadavg()[0], busy,
                    _cpu_times_now(),
                )
            )  # fmt: skip


@dataclass(frozen=True)
class NoiseFigures:
    other_cpu_pct: float
    load_avg_1m: float
    locust_busy_pct: float = math.nan

    @property
    def noisy(self) -> bool:
        return self.other_cpu_pct > NOISY_CPU_PCT


def kernel_shares(
    samples: Sequence[NoiseSample], cpus: Sequence[int], start: float, end: float
) -> tuple[float, float]:
    """(softirq %, steal %) of the CPUs' time between the first and the last sample inside
    [start, end); NaN without two such samples."""
    inside = [s for s in samples if start <= s.t < end and s.cpu_ticks]
    if len(inside) < 2:
        return math.nan, math.nan
    first, last = inside[0].cpu_ticks, inside[-1].cpu_ticks
    total = softirq = steal = 0
    for cpu in cpus:
        if cpu in first and cpu in last:
            total += last[cpu][0] - first[cpu][0]
            softirq += last[cpu][1] - first[cpu][1]
            steal += last[cpu][2] - first[cpu][2]
    if total <= 0:
        return math.nan, math.nan
    return 100.0 * softirq / total, 100.0 * steal / total


def noise_means(samples: Sequence[NoiseSample], start: float, end: float) -> NoiseFigures:
    """Means of the samples inside [start, end) (all samples when none fall inside)."""
    inside = [s for s in samples if start <= s.t < end] or list(samples)
    if not inside:
        return NoiseFigures(math.nan, math.nan)
    n = len(inside)
    return NoiseFigures(
        other_cpu_pct=sum(s.other_cpu_pct for s in inside) / n,
        load_avg_1m=sum(s.load_avg_1m for s in inside) / n,
        locust_busy_pct=sum(s.locust_busy_pct for s in inside) / n,
    )
