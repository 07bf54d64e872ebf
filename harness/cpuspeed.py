"""How fast the server's and the load generator's CPUs really ran during a cell.

The host of a virtual machine can slow a virtual CPU down without the guest seeing it: the
guest still counts the time as its own (no steal time), so CPU-time figures look the same
while the work done per second drops. On the 2-core test machine a loop pinned to an idle
CPU ran at 51-100% of its best speed from one half-second to the next, and the per-second
throughput of Flask on uWSGI followed the server CPU's speed. Two runs of the same cell then
differ by 10-20% with nothing else on the machine: no other process, no load average, no
steal time shows it.

The probe: one thread per CPU of the cell, pinned to that CPU, runs a fixed loop every
INTERVAL_S and times it in its own thread CPU time, which leaves out the time the thread
waited for the CPU (the server had it) but keeps the time the host took. Speed = loop
iterations per microsecond of that time. Each burst takes about a millisecond, well under
1% of a CPU.

The reference is the same loop on the same CPU kept busy for REFERENCE_S before the first
cell (its 90th percentile), so a cell's figure is "how fast this CPU ran, as a percentage of
how fast it ran at its best". A busy CPU runs faster than a mostly idle one on such a host
(a probe on an idle CPU reads about half of the busy speed), so a cell that leaves its CPUs
idle much of the time reads low without being disturbed: compare the figure between cells
of the same stack and mix, or between the repeats of a cell.
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LOOP = 20_000  # iterations per burst: about 1 ms on the test machine
INTERVAL_S = 0.2
REFERENCE_S = 1.0
# A cell's CPU ran "slow" below this share of its reference speed.
SLOW_PCT = 75.0


def burst(n: int = LOOP) -> float:
    """Iterations per microsecond of this thread's CPU time for one run of the loop."""
    start = time.thread_time_ns()
    x = 0
    for i in range(n):
        x ^= i
    spent = time.thread_time_ns() - start
    return n / spent * 1000 if spent > 0 else math.nan


def _pin(cpu: int) -> bool:
    """Pin the calling thread (Linux: pid 0 is the calling thread) to cpu."""
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return False
    return True


def reference(cpus: Iterable[int], seconds: float = REFERENCE_S) -> dict[int, float]:
    """Each CPU's speed while kept busy: the 90th percentile of back-to-back bursts over
    `seconds`, one CPU after the other (two Python threads spinning at once would share
    the interpreter lock and leave each CPU half idle)."""
    out: dict[int, float] = {}

    def measure(cpu: int) -> None:
        if not _pin(cpu):
            return
        speeds, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            speeds.append(burst())
        speeds = sorted(s for s in speeds if not math.isnan(s))
        if speeds:
            out[cpu] = speeds[min(len(speeds) - 1, int(0.9 * len(speeds)))]

    for cpu in sorted(set(cpus)):
        t = threading.Thread(target=measure, args=(cpu,), name=f"cpuspeed-ref-{cpu}")
        t.start()
        t.join()
    return out


@dataclass(frozen=True)
class SpeedSample:
    t: float
    cpu: int
    speed: float  # loop iterations per µs


class SpeedProbe:
    """One daemon thread per CPU sampling burst() every INTERVAL_S until stop()."""

    def __init__(self, cpus: Iterable[int], interval_s: float = INTERVAL_S) -> None:
        self._cpus = sorted(set(cpus))
        self._interval = interval_s
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(c,), name=f"cpuspeed-{c}", daemon=True)
            for c in self._cpus
        ]
        self.samples: list[SpeedSample] = []

    def __enter__(self) -> SpeedProbe:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)

    def _loop(self, cpu: int) -> None:
        if not _pin(cpu):
            return
        while not self._stop.wait(self._interval):
            self.samples.append(SpeedSample(time.time(), cpu, burst()))


def speed_pct(
    samples: Sequence[SpeedSample],
    cpus: Iterable[int],
    ref: dict[int, float],
    start: float,
    end: float,
) -> float:
    """Median speed of the cpus' samples inside [start, end), as a percentage of their
    reference (each sample against its own CPU's); NaN without samples or reference."""
    wanted = set(cpus)
    pcts = [
        100.0 * s.speed / ref[s.cpu]
        for s in samples
        if s.cpu in wanted and s.cpu in ref and ref[s.cpu] > 0 and start <= s.t < end
        and not math.isnan(s.speed)
    ]  # fmt: skip
    return statistics.median(pcts) if pcts else math.nan
