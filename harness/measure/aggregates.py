"""Per-(stack, mix, users) aggregates over the repeats with 95% bootstrap confidence
intervals of the median (results/<run>/aggregates.csv, and the REPEAT_COLUMNS of
cells.csv when the run ends). An open-loop level is also keyed by its target rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.core.intervals import bootstrap_median_ci, coefficient_of_variation
from harness.results.files import write_csv
from harness.results.format import AGGREGATE_COLUMNS, METRICS, REPEAT_COLUMNS, UNSTABLE_CV


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
        # The server CPU's speed over the repeats (harness/measure/cpuspeed.py): repeats that ran
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


def write_aggregates(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """aggregates.csv (atomic rewrite)."""
    write_csv(path, AGGREGATE_COLUMNS, aggregate(rows))
