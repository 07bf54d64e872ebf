"""harness.results.capacity: what meets the objective, a settle round's capacity, and a
capacity run's capacities, sizing and cost read from its rows."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest

from harness.results.capacity import (
    CapacitySpec,
    bound_of,
    capacities,
    capacity_rows,
    falls_over,
    judge,
    ladder,
    round_capacity,
    write_capacity_csv,
)

SPEC = CapacitySpec(p99_ms=100, max_error_pct=0.1, precision=0.05)


def window(rate: int, p99: float, rnd: int, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "stack": "a", "mix": "json", "target_rps": rate, "round": rnd, "cold": False,
        "status": "ok", "requests": 10_000, "errors": 0, "cut_off": 0, "p50_ms": p99 / 4,
        "p99_ms": p99, "server_cpus": "1", "server_cpu_pct": 95.0, "server_pss_mb": 512.0,
        "server_rss_mb": 700.0, "generator_bound": False,
    }  # fmt: skip
    return row | extra


@pytest.mark.parametrize(
    ("extra", "passed", "why"),
    [
        ({}, True, "p99 80 ms, 0.00% errors and cut off"),
        ({"p99_ms": 100.0}, True, "p99 100 ms, 0.00% errors and cut off"),
        ({"p99_ms": 100.5}, False, "p99 100 ms > 100 ms"),
        ({"errors": 11}, False, "0.11% errors and cut off > 0.1%"),
        # Cut-off requests are sent and unanswered: they count against the objective.
        ({"cut_off": 20}, False, "0.20% errors and cut off > 0.1%"),
        ({"errors": 10}, True, "p99 80 ms, 0.10% errors and cut off"),
        ({"status": "failed"}, False, "window failed"),
        ({"requests": 0, "p99_ms": math.nan}, False, "no requests answered"),
        ({"p99_ms": 400.0, "errors": 500}, False,
         "p99 400 ms > 100 ms; 5.00% errors and cut off > 0.1%"),
    ],
)  # fmt: skip
def test_judge(extra: dict[str, Any], passed: bool, why: str) -> None:
    assert judge(window(100, 80.0, 1) | extra, SPEC) == (passed, why)


def test_ladder_and_a_rounds_capacity() -> None:
    assert ladder(1000, 1050, SPEC) == (952, 1000, 1050)
    assert ladder(None, 1, SPEC) == (1,)
    assert ladder(1, 2, SPEC) == (1, 2)
    assert round_capacity({952: True, 1000: True, 1050: False}) == (1000.0, 1050.0)
    # A higher rate that met the objective above one that did not does not count.
    assert round_capacity({952: True, 1000: False, 1050: True}) == (952.0, 1000.0)
    assert round_capacity({952: False, 1000: False, 1050: False}) == (0.0, 952.0)
    assert round_capacity({952: True, 1000: True}) == (1000.0, math.inf)
    assert [bound_of(*b) for b in ((1000.0, 1050.0), (0.0, 952.0), (1000.0, math.inf))] == [
        "", "below", "at least"
    ]  # fmt: skip


def settle_run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Search rounds 1-3 (400 met, 800 missed, 566 met), then five settle rounds of the
    ladder 539 / 566 / 800; in round 6 even 566 missed it."""
    rows = [
        window(400, 20.0, 1),
        window(800, 900.0, 2, errors=300, cut_off=50),
        window(566, 60.0, 3),
    ]
    for rnd in range(4, 9):
        rows += [
            window(539, 50.0, rnd),
            window(566, 150.0 if rnd == 6 else 70.0, rnd),
            window(800, 950.0, rnd, errors=400),
        ]
    rows.append(window(200, 10.0, 0, cold=True, mix="_cold"))
    info = {"settle_rounds": [4, 5, 6, 7, 8], "searches": {"a|json": {"end": "bracketed"}}}
    return rows, info


def test_capacities_of_a_settled_search() -> None:
    rows, info = settle_run()
    (cap,) = capacities(rows, SPEC, info)
    assert (cap.stack, cap.mix) == ("a", "json")
    assert cap.capacity.median == 566 and cap.capacity.n == 5
    # From the lowest rate met (539, in round 6) to the highest missed (800).
    assert (cap.capacity.low, cap.capacity.high) == (539, 800)
    assert cap.capacity.level == pytest.approx(0.9375)
    assert cap.bound == "" and cap.search_end == "bracketed" and cap.settle_windows == 15
    # At the capacity rate: the median over its five settle windows.
    assert cap.p99_ms == 70.0 and cap.p50_ms == 17.5
    assert cap.server_mb == 512.0 and cap.server_cpus == 1
    assert cap.falls_over_rps == 800 and "p99 900 ms > 100 ms" in cap.beyond


def test_falls_over_is_where_every_window_above_missed() -> None:
    rows = [window(100, 10.0, 1), window(200, 200.0, 2), window(300, 50.0, 3),
            window(400, 500.0, 4), window(800, 900.0, 5)]  # fmt: skip
    assert falls_over(rows, SPEC) == (400.0, "p99 500 ms > 100 ms")
    over, beyond = falls_over(rows[:1], SPEC)
    assert math.isnan(over) and beyond == ""


def test_sizing_and_cost() -> None:
    rows, info = settle_run()
    spec = CapacitySpec(headroom=0.5, target_rps=5000, price_core_hour=0.04, price_gb_hour=0.01)
    (row,) = capacity_rows(rows, info | {"spec": spec.describe()})
    assert row["rps_per_core"] == 566
    assert row["rps_per_gb"] == pytest.approx(566 / 0.5)
    # 5000 / (566 x 0.5) = 17.7: 18 cores.
    assert row["cores_for_target"] == 18
    hourly = 1 * 0.04 + 0.5 * 0.01
    assert row["cost_per_million"] == pytest.approx(hourly / (566 * 3600) * 1e6)
    assert row["ci_level"] == pytest.approx(0.9375) and row["rounds"] == 5


def test_without_pss_memory_is_rss_and_a_stack_below_the_ladder_has_no_cost() -> None:
    rows, info = settle_run()
    (cap,) = capacities([r | {"server_pss_mb": math.nan} for r in rows], SPEC, info)
    assert cap.server_mb == 700.0
    rows = [window(r, 500.0, rnd, server_pss_mb=math.nan) for rnd in (2, 3) for r in (1, 2)]
    (cap,) = capacities(rows, SPEC, {"settle_rounds": [2, 3]})
    assert cap.capacity.median == 0 and cap.bound == "below"
    (row,) = capacity_rows(rows, {"settle_rounds": [2, 3], "spec": SPEC.describe()})
    assert math.isnan(row["cost_per_million"]) and row["cores_for_target"] is None


def test_rounds_that_bracket_nothing_leave_the_interval_open(tmp_path: Path) -> None:
    # Three of five rounds met the objective at every rate offered (even widened to 1,312):
    # the median round's capacity has no upper bound, and neither has the interval.
    rows = []
    for rnd in range(1, 6):
        missed = {1: 1050, 2: 1000}.get(rnd)
        for rate in (952, 1000, 1050, 1312):
            if rate == 1312 and missed:
                continue
            rows.append(window(rate, 300.0 if missed and rate >= missed else 50.0, rnd))
    info = {"settle_rounds": [1, 2, 3, 4, 5], "spec": SPEC.describe()}
    (cap,) = capacities(rows, SPEC, info)
    assert (cap.capacity.median, cap.capacity.low, cap.capacity.high) == (1312, 952, math.inf)
    assert cap.bound == "at least"
    # Of six rounds, the lower middle one: a rate that was offered, with its windows.
    rows += [window(rate, 50.0 if rate <= 1050 else 300.0, 6) for rate in (952, 1000, 1050, 1312)]
    six = capacities(rows, SPEC, info | {"settle_rounds": [1, 2, 3, 4, 5, 6]})[0]
    assert (six.capacity.median, six.capacity.n, six.p99_ms) == (1050, 6, 50.0)
    write_capacity_csv(tmp_path / "capacity.csv", rows, info)
    with (tmp_path / "capacity.csv").open(newline="") as f:
        (written,) = csv.DictReader(f)
    assert written["capacity_high"] == "inf" and float(written["capacity_high"]) == math.inf
