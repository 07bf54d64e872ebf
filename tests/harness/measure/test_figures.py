"""harness.measure.figures: figures from per-request records inside the measure window."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from harness.measure.figures import Window, cell_stats, in_window, percentile, stalled
from harness.results.records import CUT_OFF_STATUS, REJECTED_STATUS, Record


def rec(t: float, latency_us: int, ok: bool = True) -> Record:
    return Record(t, latency_us, "GET /json", 200 if ok else 0, ok, 27 if ok else 0)


@pytest.mark.parametrize("q", [0, 1, 50, 90, 99, 99.9, 100])
def test_percentile_matches_numpy_linear(q: float) -> None:
    values = sorted(random.Random(q).uniform(0, 100) for _ in range(1001))
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-9)


def test_percentile_edges() -> None:
    assert math.isnan(percentile([], 50))
    assert percentile([3.0], 99) == 3.0
    with pytest.raises(ValueError, match="got 101"):
        percentile([1.0], 101)


def test_window_is_half_open() -> None:
    records = [rec(9.999, 1), rec(10.0, 1), rec(11.5, 1), rec(12.0, 1)]
    assert [r.t_start for r in in_window(records, Window(10.0, 12.0))] == [10.0, 11.5]


def test_warmup_and_errors_are_kept_out_of_latencies() -> None:
    records = [rec(5.0, 999_000)]  # warm-up: slow, outside the window
    records += [rec(10 + i / 100, (i + 1) * 1000) for i in range(100)]  # 1..100 ms
    records += [rec(10.5, 5_000_000, ok=False), rec(10.6, 7_000_000, ok=False)]
    stats = cell_stats(records, Window(10.0, 12.0))
    assert stats.requests == 102
    assert stats.errors == 2
    assert stats.error_rate == pytest.approx(2 / 102)
    assert stats.rps == pytest.approx(102 / 2)
    assert stats.max_ms == 100.0
    assert stats.mean_ms == pytest.approx(50.5)
    assert stats.p50_ms == pytest.approx(float(np.percentile(np.arange(1, 101), 50)))
    assert stats.p99_ms == pytest.approx(float(np.percentile(np.arange(1, 101), 99)))


def test_empty_window_gives_nan_figures() -> None:
    stats = cell_stats([rec(1.0, 10)], Window(10.0, 11.0))
    assert stats.requests == 0 and stats.rps == 0
    assert math.isnan(stats.p50_ms) and math.isnan(stats.error_rate)


def test_cut_off_requests_are_counted_apart_from_requests_and_errors() -> None:
    def cut(t: float, latency_us: int) -> Record:
        return Record(t, latency_us, "GET /io/sleep", CUT_OFF_STATUS, False, 0)

    records = [cut(9.0, 9_000_000)]  # warm-up: outside the window
    records += [rec(10 + i / 10, (i + 1) * 1000) for i in range(10)]  # 1..10 ms
    records += [rec(10.5, 1_000_000, ok=False)]
    records += [cut(10.9, 2_500_000), cut(11.8, 600_000), cut(12.0, 500_000)]
    stats = cell_stats(records, Window(10.0, 12.0))
    assert stats.cut_off == 2
    # rps counts the completed requests only; the cut-off ones add no latency and no error.
    assert stats.requests == 11 and stats.rps == pytest.approx(11 / 2)
    assert stats.errors == 1 and stats.error_rate == pytest.approx(1 / 11)
    assert stats.max_ms == 10.0
    assert cell_stats(records[1:11], Window(10.0, 12.0)).cut_off == 0


def test_a_window_of_cut_off_requests_only_has_no_figures() -> None:
    records = [Record(10.5, 3_000_000, "GET /json", CUT_OFF_STATUS, False, 0)]
    stats = cell_stats(records, Window(10.0, 11.0))
    assert stats.cut_off == 1 and stats.requests == 0 and stats.errors == 0
    assert math.isnan(stats.p50_ms) and math.isnan(stats.error_rate)


def test_stalled_counts_requests_in_flight_through_the_whole_window() -> None:
    window = Window(10.0, 12.0)
    records = [
        Record(9.0, 3_500_000, "GET /json", 200, True, 2),  # 9.0 -> 12.5: stalled
        Record(9.5, 2_500_000, "GET /json", 200, True, 2),  # 9.5 -> 12.0: ends at the end
        Record(9.5, 1_000_000, "GET /json", 200, True, 2),  # ends inside the window
        Record(8.0, 4_100_000, "GET /json", CUT_OFF_STATUS, False, 0),  # cut off at 12.1
        Record(10.5, 3_000_000, "GET /json", 200, True, 2),  # sent inside: not stalled
    ]
    assert stalled(records, window) == 3
    stats = cell_stats(records, window)
    assert stats.stalled == 3 and stats.requests == 1 and stats.cut_off == 0


def test_a_rate_limits_answers_are_rejected_apart_and_elsewhere_errors() -> None:
    window = Window(10.0, 12.0)

    def turned_away(t: float) -> Record:
        return Record(t, 300, "GET /json", REJECTED_STATUS, False, 0)

    records = [
        rec(10.1, 5_000),
        rec(10.2, 7_000),
        rec(10.3, 9_000, ok=False),
        turned_away(10.4),
        turned_away(10.5),
        turned_away(11.9),
        turned_away(9.9),  # sent before the window: in no figure
        Record(10.6, 2_000_000, "GET /json", CUT_OFF_STATUS, False, 0),
    ]
    limited = cell_stats(records, window, REJECTED_STATUS)
    assert (limited.requests, limited.errors, limited.rejected, limited.cut_off) == (3, 1, 3, 1)
    assert limited.rejected_rate == 0.5 and limited.error_rate == pytest.approx(1 / 3)
    assert limited.rps == 1.5
    # Latency of the accepted ones only: the fast 429s do not pull it down.
    assert (limited.p50_ms, limited.max_ms) == (6.0, 7.0)
    # A stack without a limit: a 429 is an error like any failed answer.
    plain = cell_stats(records, window)
    assert (plain.requests, plain.errors, plain.rejected, plain.cut_off) == (6, 4, 0, 1)
    assert plain.rejected_rate == 0.0 and plain.error_rate == pytest.approx(4 / 6)
    assert (plain.p50_ms, plain.max_ms) == (6.0, 7.0)
