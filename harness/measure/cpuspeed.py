"""How fast the server's and the load generator's CPUs really ran during a cell.

The host of a virtual machine can slow a virtual CPU down without the guest seeing it: the
guest still counts the time as its own (no steal time), so CPU-time figures look the same
while the work done per second drops. On the 2-core test machine a loop pinned to an idle
CPU ran at 51-100% of its best speed from one half-second to the next, and the per-second
throughput of Flask on uWSGI followed the server CPU's speed. Two runs of the same cell then
differ by 10-30% with nothing else on the machine: no other process, no load average, no
steal time shows it.

The probe: one thread per CPU of the cell, pinned to that CPU, runs a fixed loop every
INTERVAL_S and times it in its own thread CPU time, which leaves out the time the thread
waited for the CPU (the server had it) but keeps the time the host took. Speed = loop
iterations per microsecond of that time. Each burst takes about a millisecond, well under
1% of a CPU.

A cell's figure is the median over its measured window, in loop iterations per
microsecond: an absolute unit, so cells and runs on one machine compare directly. On the
2-core test machine the host has two states: over the 107 windows of
benchmarks/results/keepalive the server CPU read 18-22 in one and 30-37 in the other,
changing from one minute to the next, and the same cell served far more in the fast one
(benchmarks/results/back_to_back.md: Flask on uWSGI 3,883 requests/s at 20.2 and 5,566 at
37.0). The loop speeds up more than a server does, so a rate divided by the speed is not
a corrected rate; the figure says which state a cell ran in. A CPU left idle much of the
time reads low on such a host without any disturbance.
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


def speed(samples: Sequence[SpeedSample], cpus: Iterable[int], start: float, end: float) -> float:
    """Median speed (loop iterations per µs) of the cpus' samples inside [start, end);
    NaN without samples."""
    wanted = set(cpus)
    inside = [
        s.speed for s in samples
        if s.cpu in wanted and start <= s.t < end and not math.isnan(s.speed)
    ]  # fmt: skip
    return statistics.median(inside) if inside else math.nan
