"""A run's figures over its rounds: per (stack, mix, users[, target rate]) level the median
with its order-statistic interval and that interval's exact level (aggregates.csv, and the
level columns of cells.csv when the run ends), and every pair of stacks at one level
compared round by round (comparisons.csv). Cold windows and failed rounds stay out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

from harness.core.intervals import coefficient_of_variation, median_interval, paired_interval
from harness.results.files import write_csv
from harness.results.format import (
    AGGREGATE_COLUMNS,
    COMPARISON_COLUMNS,
    METRICS,
    REPEAT_COLUMNS,
    UNSTABLE_CV,
)

# The figures comparisons.csv pairs round by round.
COMPARED = ("rps", "p50_ms", "p99_ms")
Row = Mapping[str, Any]


def number(value: Any) -> float:
    """A cells.csv value as a float (NaN when empty or not a number)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def truthy(value: Any) -> bool:
    """A boolean cell, fresh (True) or read back from a CSV ("true")."""
    return value is True or str(value).lower() == "true"


Level = tuple[str, str, int, str]


def level_of(row: Row) -> Level:
    """(stack, mix, users, target rate or "") of a cells.csv row, fresh or read back."""
    target = row.get("target_rps")
    return row["stack"], row["mix"], int(row["users"]), "" if target in (None, "") else str(target)


def measured_rows(rows: Sequence[Row]) -> list[Row]:
    """The ok rows that count: cold windows left out."""
    return [r for r in rows if r.get("status") == "ok" and not truthy(r.get("cold"))]


def aggregate(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """One row per level over its ok rounds, in first-seen order."""
    groups: dict[Level, list[Row]] = {}
    for row in measured_rows(rows):
        groups.setdefault(level_of(row), []).append(row)
    out = []
    for (stack, mix, users, _), members in groups.items():
        agg: dict[str, Any] = {
            "stack": stack, "mix": mix, "users": users,
            "target_rps": members[0].get("target_rps"), "n": len(members),
        }  # fmt: skip
        level = math.nan
        for metric in METRICS:
            ci = median_interval([number(r.get(metric)) for r in members])
            agg |= {f"{metric}_median": ci.median, f"{metric}_ci_low": ci.low,
                    f"{metric}_ci_high": ci.high}  # fmt: skip
            level = ci.level
        agg["ci_level"] = level
        cv = coefficient_of_variation([number(r.get("rps")) for r in members])
        agg["rps_cv"] = cv
        agg["unstable"] = bool(cv > UNSTABLE_CV) if not math.isnan(cv) else False
        agg["generator_bound"] = any(truthy(r.get("generator_bound")) for r in members)
        # Requests cut off unanswered, stalled through the window, and rejected by a rate
        # limit, over the rounds (none in rows from before the columns).
        for column in ("cut_off", "stalled", "rejected"):
            counts = (number(r.get(column)) for r in members)
            agg[column] = int(sum(c for c in counts if not math.isnan(c)))
        # The server CPU's speed over the rounds (harness/measure/cpuspeed.py): rounds that
        # ran in different host states differ for that reason alone.
        speeds = [v for v in (number(r.get("server_cpu_speed")) for r in members)
                  if not math.isnan(v)]  # fmt: skip
        agg["server_cpu_speed_min"] = min(speeds, default=math.nan)
        agg["server_cpu_speed_max"] = max(speeds, default=math.nan)
        out.append(agg)
    return out


def with_repeat_columns(rows: Sequence[Row], rounds: int) -> list[dict[str, Any]]:
    """The rows with the level columns filled from their level's aggregate: the same on
    every round of a level (failed ones too); empty with one round or no ok round."""
    empty = dict.fromkeys(REPEAT_COLUMNS)
    if rounds <= 1:
        return [{**row, **empty} for row in rows]
    by_level = {level_of(agg): agg for agg in aggregate(rows)}
    out = []
    for row in rows:
        agg = None if truthy(row.get("cold")) else by_level.get(level_of(row))
        out.append({**row, **({c: agg[c] for c in REPEAT_COLUMNS} if agg else empty)})
    return out


def by_round(
    rows: Sequence[Row], stack: str, level: tuple[str, int, str], metric: str
) -> dict[int, float]:
    """round -> metric of one stack at one (mix, users, target) level, ok rounds only."""
    out = {}
    for r in measured_rows(rows):
        if level_of(r) == (stack, *level):
            out[int(r["round"])] = number(r.get(metric))
    return out


def comparisons(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Every pair of stacks at one level, both ways round, for each compared metric: the
    median of the per-round ratios and its interval."""
    levels: dict[tuple[str, int, str], list[str]] = {}
    for r in measured_rows(rows):
        stack, mix, users, target = level_of(r)
        stacks = levels.setdefault((mix, users, target), [])
        if stack not in stacks:
            stacks.append(stack)
    out = []
    for level, stacks in levels.items():
        for metric in COMPARED:
            values = {s: by_round(rows, s, level, metric) for s in stacks}
            for a, b in combinations(stacks, 2):
                for stack, other in ((a, b), (b, a)):
                    ci = paired_interval(values[stack], values[other])
                    out.append({
                        "mix": level[0], "users": level[1], "target_rps": level[2] or None,
                        "metric": metric, "stack": stack, "other": other, "n": ci.n,
                        "ratio": ci.median, "ci_low": ci.low, "ci_high": ci.high,
                        "ci_level": ci.level, "decided": ci.excludes(1.0),
                    })  # fmt: skip
    return out


def write_aggregates(path: Path, rows: Sequence[Row]) -> None:
    """aggregates.csv (atomic rewrite)."""
    write_csv(path, AGGREGATE_COLUMNS, aggregate(rows))


def write_comparisons(path: Path, rows: Sequence[Row]) -> None:
    """comparisons.csv (atomic rewrite)."""
    write_csv(path, COMPARISON_COLUMNS, comparisons(rows))
