"""Figures for one cell, from the per-request records inside its measure window.

Percentiles use linear interpolation between closest ranks (numpy's default "linear"
method), so anyone can recompute them from requests.csv.gz with numpy or pandas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.results.records import Record


@dataclass(frozen=True)
class Window:
    """The measure window, unix seconds: start <= t_start < end."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class CellStats:
    requests: int
    errors: int
    cut_off: int
    stalled: int
    rejected: int
    error_rate: float
    rejected_rate: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, linear interpolation."""
    if not sorted_values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in 0..100, got {q}")
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def in_window(records: Sequence[Record], window: Window) -> list[Record]:
    """Records that started inside the window."""
    return [r for r in records if window.start <= r.t_start < window.end]


def stalled(records: Sequence[Record], window: Window) -> int:
    """Requests in flight through the whole window: sent before it, and answered (or cut
    off) only after it ended. Their users sent nothing in the window, so the window's
    figures leave them out entirely: a server that lets some connections wait seconds
    (a full listen backlog, SYN retries) looks fast to the users it does serve."""
    return sum(
        1 for r in records
        if r.t_start < window.start and r.t_start + r.latency_us / 1e6 >= window.end
    )  # fmt: skip


def cell_stats(
    records: Sequence[Record], window: Window, rejected_status: int | None = None
) -> CellStats:
    """Over the records that started in the window: requests = the completed ones (answered
    or failed); errors = those with ok == 0; latency figures from the ok ones only;
    rps = requests / window seconds; cut_off = those still unanswered when the load
    stopped, counted apart (neither requests nor errors: their latency is unknown);
    stalled = requests from before the window still in flight when it ended (stalled()).
    With rejected_status (a rate-limited stack's 429), the answers with that status are
    rejected: turned away by the limit before the app, counted apart like cut_off, so that
    requests, rps, errors and latency are those of the requests the limit let through;
    rejected_rate = rejected / (requests + rejected). Without it they are errors."""
    inside = in_window(records, window)
    done = [r for r in inside if not r.cut_off]
    served = [r for r in done if rejected_status is None or r.status != rejected_status]
    latencies = sorted(r.latency_us / 1000 for r in served if r.ok)
    errors = sum(1 for r in served if not r.ok)
    total, rejected = len(served), len(done) - len(served)
    return CellStats(
        requests=total,
        errors=errors,
        cut_off=len(inside) - len(done),
        stalled=stalled(records, window),
        rejected=rejected,
        error_rate=errors / total if total else math.nan,
        rejected_rate=rejected / len(done) if done else math.nan,
        rps=total / window.seconds,
        p50_ms=percentile(latencies, 50),
        p90_ms=percentile(latencies, 90),
        p99_ms=percentile(latencies, 99),
        p999_ms=percentile(latencies, 99.9),
        max_ms=latencies[-1] if latencies else math.nan,
        mean_ms=sum(latencies) / len(latencies) if latencies else math.nan,
    )
