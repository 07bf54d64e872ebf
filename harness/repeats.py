"""Repeats: the shuffled cell order, and per-(stack, mix, users) aggregates with 95%
bootstrap confidence intervals of the median (results/<run>/aggregates.csv, and the
REPEAT_COLUMNS of cells.csv when the run ends). An open-loop level is also keyed by its
target rate.

Order: repeat blocks stay outermost (every cell once before any cell twice), and inside
each block the cells are shuffled with a seeded generator, so stacks interleave and a
drift of the machine (heat, other tenants) spreads over every stack instead of landing
on the ones measured last. The seed is recorded in metadata.json.
"""

from __future__ import annotations

import csv
import io
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from harness.results import REPEAT_COLUMNS, _replace_with

T = TypeVar("T")
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
UNSTABLE_CV = 0.10
METRICS = ("rps", "p50_ms", "p90_ms", "p99_ms")
AGGREGATE_COLUMNS = (
    "stack", "mix", "users", "target_rps", "n",
    *(f"{m}_{part}" for m in METRICS for part in ("median", "ci_low", "ci_high")),
    "rps_cv", "unstable", "generator_bound", "cut_off", "stalled",
    "server_cpu_speed_min", "server_cpu_speed_max",
)  # fmt: skip


def shuffled_blocks(blocks: Sequence[Sequence[T]], seed: int) -> list[T]:
    """Concatenate the blocks, each shuffled with one generator seeded once."""
    rng = random.Random(seed)
    out: list[T] = []
    for block in blocks:
        items = list(block)
        rng.shuffle(items)
        out.extend(items)
    return out


@dataclass(frozen=True)
class Interval:
    median: float
    low: float
    high: float


def bootstrap_median_ci(
    values: Sequence[float],
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Median and its percentile-bootstrap confidence interval (seeded, reproducible).

    With one value the interval is that value; NaNs are left out.
    """
    data = [v for v in values if not math.isnan(v)]
    if not data:
        return Interval(math.nan, math.nan, math.nan)
    med = statistics.median(data)
    if len(data) == 1:
        return Interval(med, med, med)
    rng = random.Random(seed)
    n = len(data)
    meds = sorted(statistics.median(rng.choices(data, k=n)) for _ in range(resamples))
    alpha = (1 - confidence) / 2
    lo_i = max(0, math.floor(alpha * resamples))
    hi_i = min(resamples - 1, math.ceil((1 - alpha) * resamples) - 1)
    return Interval(med, meds[lo_i], meds[hi_i])


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Sample standard deviation / mean; NaN with fewer than two values or a zero mean."""
    data = [v for v in values if not math.isnan(v)]
    if len(data) < 2:
        return math.nan
    mean = statistics.fmean(data)
    return statistics.stdev(data) / mean if mean else math.nan


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


Level = tuple[str, str, int, str]


def level_of(row: dict[str, Any]) -> Level:
    """(stack, mix, users, target rate or "") of a cells.csv row, fresh or read back."""
    target = row.get("target_rps")
    return row["stack"], row["mix"], int(row["users"]), "" if target in (None, "") else str(target)


def aggregate(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (stack, mix, users, target rate) over its ok repeats, in first-seen order."""
    groups: dict[Level, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("status") == "ok":
            groups.setdefault(level_of(row), []).append(row)
    out = []
    for (stack, mix, users, _), members in groups.items():
        agg: dict[str, Any] = {
            "stack": stack, "mix": mix, "users": users,
            "target_rps": members[0].get("target_rps"), "n": len(members),
        }  # fmt: skip
        for metric in METRICS:
            ci = bootstrap_median_ci([_number(r.get(metric)) for r in members])
            agg.update(
                {f"{metric}_median": ci.median, f"{metric}_ci_low": ci.low,
                 f"{metric}_ci_high": ci.high}
            )  # fmt: skip
        cv = coefficient_of_variation([_number(r.get("rps")) for r in members])
        agg["rps_cv"] = cv
        agg["unstable"] = bool(cv > UNSTABLE_CV) if not math.isnan(cv) else False
        agg["generator_bound"] = any(r.get("generator_bound") in (True, "true") for r in members)
        # Requests cut off unanswered, and stalled through the window, over the repeats
        # (none in rows from before the columns).
        for column in ("cut_off", "stalled"):
            counts = (_number(r.get(column)) for r in members)
            agg[column] = int(sum(c for c in counts if not math.isnan(c)))
        # The server CPU's speed over the repeats (harness/cpuspeed.py): repeats that ran
        # in different host states differ for that reason alone.
        speeds = [v for v in (_number(r.get("server_cpu_speed")) for r in members)
                  if not math.isnan(v)]  # fmt: skip
        agg["server_cpu_speed_min"] = min(speeds, default=math.nan)
        agg["server_cpu_speed_max"] = max(speeds, default=math.nan)
        out.append(agg)
    return out


def with_repeat_columns(rows: Sequence[dict[str, Any]], repeats: int) -> list[dict[str, Any]]:
    """The rows with REPEAT_COLUMNS filled from their level's aggregate: the same values on
    every repeat of a level (failed ones too); empty with one repeat or no ok repeat."""
    empty = dict.fromkeys(REPEAT_COLUMNS)
    if repeats <= 1:
        return [{**row, **empty} for row in rows]
    by_level = {level_of(agg): agg for agg in aggregate(rows)}
    out = []
    for row in rows:
        agg = by_level.get(level_of(row))
        out.append({**row, **({c: agg[c] for c in REPEAT_COLUMNS} if agg else empty)})
    return out


def _csv(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(round(value, 6))
    return str(value)


def write_aggregates(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """aggregates.csv (atomic rewrite)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(AGGREGATE_COLUMNS)
    for agg in aggregate(rows):
        writer.writerow([_csv(agg[c]) for c in AGGREGATE_COLUMNS])
    _replace_with(path, buf.getvalue())
