"""Per-cell raw files: cell.json, the per-request records, per-second timelines, latencies."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.errors import ResultsError
from harness.results.files import read_json_object
from harness.results.records import CUT_OFF_STATUS

REQUEST_COLUMNS: dict[str, str] = {
    "t_start": "float64",
    "latency_us": "int64",
    "name": "string",
    "status": "int64",
    "ok": "int8",
    "bytes": "int64",
}
WINDOW_KEYS: tuple[str, ...] = ("warmup_start", "warmup_end", "measure_start", "measure_end")
# Quantiles named in tables and on the tail axis of the percentile chart.
TAIL_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.99, 0.999, 0.9999)


@dataclass(frozen=True)
class CellWindow:
    """Unix-second bounds of a cell's warm-up and measure phases."""

    warmup_start: float
    warmup_end: float
    measure_start: float
    measure_end: float

    def __post_init__(self) -> None:
        bounds = (self.warmup_start, self.warmup_end, self.measure_start, self.measure_end)
        if any(math.isnan(b) for b in bounds) or not self.measure_start < self.measure_end:
            raise ResultsError(f"cell window out of order or incomplete: {bounds}")


@dataclass(frozen=True)
class Timeline:
    """Per-second counts and latencies of one cell, seconds counted from warm-up start."""

    cell: str
    per_second: pd.DataFrame  # start_s, end_s, requests, rps, errors, errors_per_s, p50/p99, phase
    warmup: tuple[float, float]  # seconds since warm-up start
    measure: tuple[float, float]


def read_cell_json(raw_dir: Path) -> dict[str, Any]:
    """cell.json of one cell."""
    return read_json_object(Path(raw_dir) / "cell.json")


def _find_window_values(meta: dict[str, Any]) -> dict[str, Any]:
    # The timestamps sit at the top level or under one nested object; accept both.
    candidates = [meta, *(v for v in meta.values() if isinstance(v, dict))]
    for candidate in candidates:
        if all(k in candidate for k in WINDOW_KEYS):
            return {k: candidate[k] for k in WINDOW_KEYS}
    return {}


def cell_window(meta: dict[str, Any], cell: str = "") -> CellWindow:
    """The warm-up and measure bounds recorded in a cell.json."""
    values = _find_window_values(meta)
    if not values:
        raise ResultsError(f"cell.json of {cell or '?'} has no {', '.join(WINDOW_KEYS)}")
    try:
        bounds = {k: float(v) for k, v in values.items()}
    except (TypeError, ValueError) as exc:
        raise ResultsError(f"cell.json of {cell or '?'}: bad window {values}: {exc}") from exc
    # warmup_start is the first request's start; were it late, the warm-up is just empty.
    bounds["warmup_start"] = min(bounds["warmup_start"], bounds["measure_start"])
    bounds["warmup_end"] = min(
        max(bounds["warmup_end"], bounds["warmup_start"]), bounds["measure_start"]
    )
    return CellWindow(**bounds)


def read_requests(raw_dir: Path) -> pd.DataFrame:
    """requests.csv.gz of one cell, every request including warm-up."""
    path = Path(raw_dir) / "requests.csv.gz"
    try:
        frame = pd.read_csv(path, dtype=REQUEST_COLUMNS)
    except (OSError, EOFError, pd.errors.ParserError, ValueError) as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from exc
    missing = [c for c in REQUEST_COLUMNS if c not in frame.columns]
    if missing:
        raise ResultsError(f"{path}: missing columns {missing}")
    return frame


def in_window(frame: pd.DataFrame, window: CellWindow) -> pd.Series:
    """Rows whose request started inside the measure window (start inclusive)."""
    t = frame["t_start"]
    return (t >= window.measure_start) & (t < window.measure_end)


def _bin_edges(window: CellWindow, last: float) -> np.ndarray:
    """One-second bin edges (seconds since warm-up start) aligned to the measure start.

    The measure window is made of whole bins. The warm-up's first bin is stretched
    to absorb a fragment under half a second, and the tail keeps only bins the records
    cover, so no sliver of a bin looks like a drop in throughput.
    """
    t0 = window.warmup_start
    offset = (window.measure_start - t0) % 1.0
    end = max(window.measure_end - t0, last)
    edges = offset + np.arange(0, math.floor(end - offset + 1e-9) + 1, dtype="float64")
    if edges.size and edges[0] < 0.5:
        edges = edges[1:]
    return np.concatenate([[0.0], edges])


def timeline(raw_dir: Path) -> Timeline:
    """Per-second requests/s, errors/s, p50 and p99 of one cell, warm-up included."""
    raw_dir = Path(raw_dir)
    window = cell_window(read_cell_json(raw_dir), raw_dir.name)
    frame = read_requests(raw_dir)
    # Requests cut off unanswered when the load stopped: neither done nor failed, as in
    # cells.csv (harness/measure/figures.py).
    frame = frame[frame["status"] != CUT_OFF_STATUS]
    t0 = window.warmup_start
    t = frame["t_start"].to_numpy() - t0
    edges = _bin_edges(window, float(t.max()) if len(t) else 0.0)
    n_bins = len(edges) - 1
    index = np.searchsorted(edges, t, side="right") - 1
    frame = frame.assign(bin=index, latency_ms=frame["latency_us"] / 1000.0)
    frame = frame[(frame["bin"] >= 0) & (frame["bin"] < n_bins)]
    grouped = frame.groupby("bin")
    ok_latency = frame[frame["ok"] == 1].groupby("bin")["latency_ms"]
    per_second = pd.DataFrame(
        {
            "requests": grouped.size(),
            "errors": grouped["ok"].apply(lambda s: int((s == 0).sum())),
            "p50_ms": ok_latency.quantile(0.5),
            "p99_ms": ok_latency.quantile(0.99),
        }
    ).reindex(np.arange(n_bins))
    per_second[["requests", "errors"]] = per_second[["requests", "errors"]].fillna(0)
    per_second.insert(0, "start_s", edges[:-1])
    per_second.insert(1, "end_s", edges[1:])
    per_second = per_second.reset_index(drop=True)
    width = per_second["end_s"] - per_second["start_s"]
    per_second["rps"] = per_second["requests"] / width
    per_second["errors_per_s"] = per_second["errors"] / width
    middle = (per_second["start_s"] + per_second["end_s"]) / 2
    per_second["phase"] = np.select(
        [middle < window.measure_start - t0, middle < window.measure_end - t0],
        ["warmup", "measure"],
        default="after",
    )
    return Timeline(
        cell=raw_dir.name,
        per_second=per_second,
        warmup=(0.0, window.warmup_end - t0),
        measure=(window.measure_start - t0, window.measure_end - t0),
    )


def measured_latencies_ms(raw_dirs: Iterable[Path]) -> np.ndarray:
    """Sorted latencies (ms) of ok requests in the measure windows of the given cells, pooled."""
    parts = []
    for raw_dir in raw_dirs:
        window = cell_window(read_cell_json(raw_dir), Path(raw_dir).name)
        frame = read_requests(raw_dir)
        keep = in_window(frame, window) & (frame["ok"] == 1)
        parts.append(frame.loc[keep, "latency_us"].to_numpy(dtype="float64") / 1000.0)
    if not parts:
        return np.empty(0)
    return np.sort(np.concatenate(parts))


def tail_x(q: np.ndarray | float) -> np.ndarray:
    """Position of quantile q on the tail axis: -log10(1 - q), so 0.99 -> 2, 0.9999 -> 4."""
    return -np.log10(1.0 - np.asarray(q, dtype="float64"))


def percentile_curve(latencies_ms: np.ndarray, points: int = 200) -> pd.DataFrame:
    """Latency against quantile from the median out to the deepest tail the sample supports.

    With n samples the highest quantile shown is 1 - 1/n: beyond it a percentile would
    only repeat the maximum, which would look like a measured plateau.
    """
    n = len(latencies_ms)
    if n == 0:
        return pd.DataFrame({"q": [], "x": [], "latency_ms": []})
    x_max = min(float(tail_x(TAIL_QUANTILES[-1])), math.log10(n)) if n > 1 else float(tail_x(0.5))
    x = np.linspace(float(tail_x(0.5)), max(x_max, float(tail_x(0.5))), points)
    q = 1.0 - 10.0 ** (-x)
    values = np.quantile(latencies_ms, q)
    return pd.DataFrame({"q": q, "x": x, "latency_ms": values})
