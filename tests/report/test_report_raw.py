"""harness.report.raw: cell windows, per-second timelines, measured latencies, percentiles."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.core.errors import ResultsError
from harness.report.raw import (
    cell_window,
    measured_latencies_ms,
    percentile_curve,
    read_requests,
    tail_x,
    timeline,
)
from harness.report.tables import load_run


def _write_cell(raw: Path, window: dict[str, float], rows: list[tuple[float, int, int]]) -> Path:
    raw.mkdir(parents=True)
    (raw / "cell.json").write_text(json.dumps({"cell": raw.name, **window}))
    with gzip.open(raw / "requests.csv.gz", "wt") as fh:
        fh.write("t_start,latency_us,name,status,ok,bytes\n")
        for t, lat, ok in rows:
            fh.write(f"{t:.6f},{lat},GET /json,{200 if ok else 0},{ok},27\n")
    return raw


def test_measure_window_bins_count_exactly_the_cells_requests(synthetic_run: Path) -> None:
    run = load_run(synthetic_run)
    for row in run.cells[~run.cells["failed"]].itertuples():
        tl = timeline(run.raw_dir(row.cell))
        measured = tl.per_second[tl.per_second["phase"] == "measure"]
        assert measured["requests"].sum() == row.requests
        assert measured["errors"].sum() == row.errors
        assert len(measured) == row.measure_s


def test_timeline_aligns_bins_to_the_measure_start(tmp_path: Path) -> None:
    t0 = 1000.0
    window = {"warmup_start": t0, "warmup_end": t0 + 1.7, "measure_start": t0 + 1.7,
              "measure_end": t0 + 3.7}  # fmt: skip
    rows = [(t0 + i * 0.01, 1000 + i, 1) for i in range(400)]  # 100 requests/s over 4 s
    tl = timeline(_write_cell(tmp_path / "c", window, rows))
    ps = tl.per_second
    assert tl.measure == pytest.approx((1.7, 3.7))
    assert list(ps["phase"]) == ["warmup", "warmup", "measure", "measure"]
    assert ps["start_s"].tolist() == pytest.approx([0.0, 0.7, 1.7, 2.7])
    # the 0.7 s first bin is a rate over 0.7 s, not a count
    assert ps["rps"].tolist() == pytest.approx([100.0] * 4, rel=0.02)
    # the tail after the last record (3.99 s) is not a full bin: dropped, not drawn as a dip
    assert ps["end_s"].max() == pytest.approx(3.7)
    shifted = window | {"measure_start": t0 + 1.2, "warmup_end": t0 + 1.2, "measure_end": t0 + 3.2}
    short = timeline(_write_cell(tmp_path / "d", shifted, rows))
    # a 0.2 s leading fragment joins the next bin instead of standing alone
    assert short.per_second["start_s"].tolist()[:2] == pytest.approx([0.0, 1.2])


def test_timeline_counts_errors_and_ok_latency_only(tmp_path: Path) -> None:
    t0 = 2000.0
    window = {"warmup_start": t0, "warmup_end": t0 + 1, "measure_start": t0 + 1,
              "measure_end": t0 + 2}  # fmt: skip
    rows = [(t0 + 1.1, 5000, 1), (t0 + 1.2, 7000, 1), (t0 + 1.3, 9_000_000, 0)]
    ps = timeline(_write_cell(tmp_path / "c", window, rows)).per_second
    measure = ps[ps["phase"] == "measure"].iloc[0]
    assert measure["requests"] == 3
    assert measure["errors"] == 1
    assert measure["p50_ms"] == pytest.approx(6.0)
    warm = ps[ps["phase"] == "warmup"].iloc[0]
    assert warm["requests"] == 0 and pd.isna(warm["p99_ms"])


def test_measured_latencies_keep_window_and_ok_only(synthetic_run: Path) -> None:
    run = load_run(synthetic_run)
    row = run.cells[~run.cells["failed"]].iloc[0]
    lat = measured_latencies_ms([run.raw_dir(row["cell"])])
    assert len(lat) == row["requests"] - row["errors"]
    assert np.all(np.diff(lat) >= 0)
    assert np.quantile(lat, 0.99) == pytest.approx(row["p99_ms"])


def test_cell_window_missing_or_bad(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="measure_start"):
        cell_window({"warmup_start": 1.0}, "x")
    with pytest.raises(ResultsError, match="bad window"):
        cell_window({"warmup_start": None, "warmup_end": 1, "measure_start": 1,
                     "measure_end": 2}, "x")  # fmt: skip
    with pytest.raises(ResultsError, match="out of order"):
        cell_window({"warmup_start": 0, "warmup_end": 1, "measure_start": 3,
                     "measure_end": 2}, "x")  # fmt: skip
    late = cell_window({"warmup_start": 5, "warmup_end": 1, "measure_start": 1, "measure_end": 2})
    assert late.warmup_start == late.warmup_end == 1


def test_read_requests_rejects_a_truncated_file(tmp_path: Path) -> None:
    raw = tmp_path / "c"
    raw.mkdir()
    (raw / "requests.csv.gz").write_bytes(gzip.compress(b"t_start,latency_us\n1.0,5\n")[:-6])
    with pytest.raises(ResultsError, match=r"requests\.csv\.gz"):
        read_requests(raw)


def test_percentile_curve_stops_where_the_sample_runs_out() -> None:
    lat = np.arange(1, 101, dtype=float)  # n = 100: the deepest honest quantile is 0.99
    curve = percentile_curve(lat)
    assert curve["x"].iloc[0] == pytest.approx(tail_x(0.5))
    assert curve["x"].iloc[-1] == pytest.approx(2.0)
    assert curve["latency_ms"].is_monotonic_increasing
    deep = percentile_curve(np.arange(1, 100_001, dtype=float))
    assert deep["x"].iloc[-1] == pytest.approx(4.0)
    assert percentile_curve(np.empty(0)).empty
    assert tail_x(np.array([0.9, 0.999])).tolist() == pytest.approx([1.0, 3.0])
