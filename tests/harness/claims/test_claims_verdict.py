"""Claim verdicts on synthetic cells.csv rows: every verdict, and every reason a figure is
not trusted (generator-bound, failed, erroring, missing, a single round)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from harness.claims.spec import Check, Claim, Select, parse_claims
from harness.claims.verdict import (
    INCONCLUSIVE,
    REFUTED,
    SUPPORTED,
    combine_checks,
    evaluate_check,
    evaluate_claim,
    judge,
    not_run,
)

FAST = Select("fastapi-async@uvicorn-w1", 32, "sleep50")
SLOW = Select("flask@gunicorn-sync-w1", 32, "sleep50")


def row(select: Select, round_: int, rps: float, **extra: Any) -> dict[str, str]:
    base = {
        "stack": select.stack, "mix": select.mix, "users": str(select.users),
        "round": str(round_), "status": "ok", "rps": str(rps), "p50_ms": "1.0",
        "error_rate": "0.0", "generator_bound": "false", "target_rps": "",
    }  # fmt: skip
    return base | {k: str(v) for k, v in extra.items()}


def rows_for(select: Select, values: list[float], **extra: Any) -> list[dict[str, str]]:
    return [row(select, i, v, **extra) for i, v in enumerate(values, start=1)]


def ratio_check(op: str = ">=", threshold: float = 5.0, **kw: Any) -> Check:
    return Check(
        label="fast over slow", metric=kw.pop("metric", "rps"), of=FAST, over=SLOW,
        compare=kw.pop("compare", "ratio"), op=op, threshold=threshold,
        max_error_rate=kw.pop("max_error_rate", 0.01),
    )  # fmt: skip


def value_check(op: str, threshold: float) -> Check:
    return Check("slow alone", "rps", SLOW, None, "ratio", op, threshold, 0.01)


def test_judge_covers_both_operators_and_all_verdicts() -> None:
    assert judge(">=", 5, 6, 8)[0] == SUPPORTED
    assert judge(">=", 5, 2, 4.9)[0] == REFUTED
    assert judge(">=", 5, 4, 6)[0] == INCONCLUSIVE
    assert judge("<=", 21, 19, 20.5)[0] == SUPPORTED
    assert judge("<=", 21, 22, 25)[0] == REFUTED
    assert judge("<=", 21, 20, 22)[0] == INCONCLUSIVE
    # On the threshold itself the claimed side wins (>= and <= include it).
    assert judge(">=", 1.0, 1.0, 1.2)[0] == SUPPORTED


def test_ratio_supported_when_whole_interval_clears_threshold() -> None:
    rows = rows_for(FAST, [600, 620, 610]) + rows_for(SLOW, [19.5, 19.6, 19.4])
    result = evaluate_check(ratio_check(">=", 5), rows)
    assert result.verdict == SUPPORTED
    # The median of the per-round ratios: 600 / 19.5, 620 / 19.6, 610 / 19.4.
    assert result.value == pytest.approx(610 / 19.4)
    assert result.ci_low <= result.value <= result.ci_high
    assert result.ci_low >= 600 / 19.6 and result.ci_high <= 620 / 19.4
    assert [f.values for f in result.figures] == [(600.0, 620.0, 610.0), (19.5, 19.6, 19.4)]


def test_ratio_refuted_when_whole_interval_misses_threshold() -> None:
    rows = rows_for(FAST, [60, 62, 61]) + rows_for(SLOW, [19.5, 19.6, 19.4])
    result = evaluate_check(ratio_check(">=", 5), rows)
    assert result.verdict == REFUTED
    assert "other side" in result.reason


def test_inconclusive_when_interval_straddles_threshold() -> None:
    # Medians give exactly 5, but the repeats spread on both sides of it.
    rows = rows_for(FAST, [80, 100, 120]) + rows_for(SLOW, [20, 20, 20])
    result = evaluate_check(ratio_check(">=", 5), rows)
    assert result.verdict == INCONCLUSIVE
    assert result.ci_low < 5 < result.ci_high
    assert "straddles" in result.reason


def bound(rows: list[dict[str, str]], stack: str) -> list[dict[str, str]]:
    return [{**r, "generator_bound": "true"} if r["stack"] == stack else r for r in rows]


def test_generator_bound_cell_makes_a_clear_result_inconclusive() -> None:
    rows = rows_for(FAST, [600, 620, 610]) + rows_for(SLOW, [19.5, 19.6, 19.4])
    # The divisor measured the generator: its throughput is a lower bound, so the ratio is
    # an upper bound, and "at least 5x" cannot be concluded from it.
    result = evaluate_check(ratio_check(">=", 5), bound(rows, SLOW.stack))
    assert result.verdict == INCONCLUSIVE
    assert "generator-bound (the value is an upper bound)" in result.reason
    # The figures are still computed and shown.
    # The median of the per-round ratios: 600 / 19.5, 620 / 19.6, 610 / 19.4.
    assert result.value == pytest.approx(610 / 19.4)
    # Both cells bound: no direction at all.
    both = evaluate_check(ratio_check(">=", 5), bound(bound(rows, SLOW.stack), FAST.stack))
    assert both.verdict == INCONCLUSIVE and "unknown direction" in both.reason


def test_generator_bound_verdict_stands_in_the_direction_of_the_bound() -> None:
    rows = rows_for(FAST, [600, 620, 610]) + rows_for(SLOW, [19.5, 19.6, 19.4])
    # The faster cell hit the generator's ceiling: the server could do more, so a ratio
    # already above the threshold only grows: supported stands.
    supported = evaluate_check(ratio_check(">=", 5), bound(rows, FAST.stack))
    assert supported.verdict == SUPPORTED
    assert "is a lower bound, so it holds" in supported.reason
    # "fast is at most 5x slow" measured at 31x with fast bound: refuted stands too.
    refuted = evaluate_check(ratio_check("<=", 5), bound(rows, FAST.stack))
    assert refuted.verdict == REFUTED
    # But "at most 50x" would only be supported by a lower bound: inconclusive.
    assert evaluate_check(ratio_check("<=", 50), bound(rows, FAST.stack)).verdict == INCONCLUSIVE
    # Latency from a generator-bound cell is an upper bound: "p50 <= t" stands.
    slow_bound = bound(rows_for(SLOW, [19.5, 19.6, 19.4], p50_ms=2.0), SLOW.stack)
    check = Check("p50", "p50_ms", SLOW, None, "ratio", "<=", 3.0, 0.01)
    assert evaluate_check(check, slow_bound).verdict == SUPPORTED
    check = Check("p50", "p50_ms", SLOW, None, "ratio", ">=", 1.0, 0.01)
    assert evaluate_check(check, slow_bound).verdict == INCONCLUSIVE
    # error_rate has no known direction.
    check = Check("errors", "error_rate", SLOW, None, "ratio", "<=", 0.5, 0.01)
    assert evaluate_check(check, slow_bound).verdict == INCONCLUSIVE


def test_cut_off_requests_make_a_clear_result_inconclusive() -> None:
    rows = rows_for(FAST, [600, 620, 610]) + rows_for(SLOW, [19.5, 19.6, 19.4], cut_off=0)
    assert evaluate_check(ratio_check(">=", 5), rows).verdict == SUPPORTED
    rows[4]["cut_off"] = "12"
    result = evaluate_check(ratio_check(">=", 5), rows)
    assert result.verdict == INCONCLUSIVE
    assert "cut off" in result.reason and "r2 12" in result.reason
    # Rows of runs from before the cut_off column have no such problem.
    assert not any("cut off" in p for f in result.figures[:1] for p in f.problems)


def test_stalled_requests_make_latency_inconclusive_but_not_throughput() -> None:
    # p50 of FAST 1 ms against SLOW 50 ms: clearly at most 0.1 of it.
    rows = rows_for(FAST, [600, 620, 610]) + rows_for(SLOW, [19.5, 19.6, 19.4], p50_ms=50)
    latency = ratio_check("<=", 0.1, metric="p50_ms")
    assert evaluate_check(latency, rows).verdict == SUPPORTED
    rows[3]["stalled"] = "9"
    result = evaluate_check(latency, rows)
    assert result.verdict == INCONCLUSIVE
    assert "in flight through the whole window" in result.reason and "r1 9" in result.reason
    # The window's throughput is what the server did serve: stalled users do not bias it.
    assert evaluate_check(ratio_check(">=", 5), rows).verdict == SUPPORTED


def test_failed_repeat_errors_and_missing_cells_are_inconclusive() -> None:
    good = rows_for(FAST, [600, 620, 610]) + rows_for(SLOW, [19.5, 19.6, 19.4])
    failed = [*good[:-1], {**good[-1], "status": "failed", "rps": ""}]
    assert "failed rounds" in evaluate_check(ratio_check(), failed).reason
    assert evaluate_check(ratio_check(), failed).verdict == INCONCLUSIVE

    erroring = rows_for(FAST, [600, 620, 610], error_rate=0.05) + good[3:]
    result = evaluate_check(ratio_check(), erroring)
    assert result.verdict == INCONCLUSIVE and "error rate 5.0%" in result.reason
    # A check on error_rate itself is not disqualified by its own figure.
    on_errors = evaluate_check(ratio_check("<=", 100, metric="error_rate"), erroring)
    assert "error rate" not in on_errors.reason

    missing = evaluate_check(ratio_check(), good[:3])
    assert missing.verdict == INCONCLUSIVE and "not in the run" in missing.reason
    assert math.isnan(missing.value)


def test_one_repeat_gives_no_interval_and_no_verdict() -> None:
    rows = rows_for(FAST, [600]) + rows_for(SLOW, [19.5])
    result = evaluate_check(ratio_check(), rows)
    assert result.verdict == INCONCLUSIVE
    assert "no interval" in result.reason


def test_single_cell_figure_against_an_absolute_threshold() -> None:
    rows = rows_for(SLOW, [19.5, 19.6, 19.4])
    assert evaluate_check(value_check("<=", 21), rows).verdict == SUPPORTED
    assert evaluate_check(value_check("<=", 10), rows).verdict == REFUTED
    assert evaluate_check(value_check("<=", 19.5), rows).verdict == INCONCLUSIVE


def test_difference_compare() -> None:
    rows = rows_for(FAST, [1, 1, 1], p50_ms=1.3) + rows_for(SLOW, [1, 1, 1], p50_ms=1.0)
    check = ratio_check("<=", 1.0, metric="p50_ms", compare="difference")
    result = evaluate_check(check, rows)
    assert result.value == pytest.approx(0.3)
    assert result.verdict == SUPPORTED
    assert (result.ci_low, result.ci_high) == pytest.approx((0.3, 0.3))
    assert result.compare == "difference"
    assert evaluate_check(ratio_check("<=", 1.0), rows).compare == "ratio"


def test_ratios_are_paired_by_round_and_labelled_with_their_level() -> None:
    # The host was slow in round 2 for both: per round the ratio is 5 every time.
    rows = rows_for(FAST, [500, 300, 500]) + rows_for(SLOW, [100, 60, 100])
    result = evaluate_check(ratio_check(">=", 4.9), rows)
    assert (result.value, result.ci_low, result.ci_high) == (5.0, 5.0, 5.0)
    assert result.verdict == SUPPORTED and result.n == 3 and result.ci_level == 0.75
    assert "75% interval [5, 5]" in result.reason
    # Unpaired, the same figures would overlap: medians 500 / 100, but 300 / 100 = 3.
    six = rows_for(FAST, [500, 300, 500, 510, 290, 505]) + rows_for(
        SLOW, [100, 60, 100, 101, 59, 99]
    )
    full = evaluate_check(ratio_check(">=", 4.8), six)
    assert full.ci_level == pytest.approx(0.96875) and full.verdict == SUPPORTED
    assert "96.9% interval" in full.reason


def test_open_loop_rows_are_not_mistaken_for_closed_loop_cells() -> None:
    rows = rows_for(SLOW, [19.5, 19.6, 19.4]) + rows_for(SLOW, [500, 500], target_rps=100)
    result = evaluate_check(value_check("<=", 21), rows)
    assert result.figures[0].values == (19.5, 19.6, 19.4)


def test_an_open_loop_cell_is_its_target_rate_and_rejected_rate_a_metric() -> None:
    limited = Select("flask@gunicorn-sync-w4+nginx-limit150", 64, "sleep10", 450)
    below = Select("flask@gunicorn-sync-w4+nginx-limit150", 64, "sleep10", 120)
    rows = rows_for(limited, [150, 151, 150], target_rps=450, rejected_rate=0.66)
    rows += rows_for(below, [120, 120, 119], target_rps=120, rejected_rate=0.0)
    rows += rows_for(SLOW, [19.5, 19.6, 19.4])
    held = evaluate_check(Check("holds", "rps", limited, None, "ratio", "<=", 165, 0.01), rows)
    assert held.figures[0].values == (150, 151, 150) and held.verdict == SUPPORTED
    assert "450 requests/s offered" in held.figures[0].cell
    turned = Check("rejects", "rejected_rate", limited, None, "ratio", ">=", 0.5, 0.01)
    assert evaluate_check(turned, rows).verdict == SUPPORTED
    paired = Check("accepted", "rps", limited, below, "ratio", ">=", 1.2, 0.01)
    assert evaluate_check(paired, rows).value == pytest.approx(151 / 120)  # round 2 of 3


def test_claim_verdict_combines_checks() -> None:
    def result(verdict: str) -> Any:
        return type("R", (), {"verdict": verdict, "label": verdict})()

    assert combine_checks([result(SUPPORTED), result(SUPPORTED)])[0] == SUPPORTED
    assert combine_checks([result(SUPPORTED), result(INCONCLUSIVE)])[0] == INCONCLUSIVE
    # One refuted check refutes the claim, even beside an undecided one.
    assert combine_checks([result(INCONCLUSIVE), result(REFUTED)])[0] == REFUTED


CLAIMS = """
[defaults.load]
warmup_s = 1
measure_s = 2
rounds = 3
spawn_margin_s = 5
stop_timeout_s = 2
startup_timeout_s = 30
[defaults.cpus]
server = [1]
load = [0]

[[claims]]
id = "one"
statement = "fast beats slow five times"
[claims.scenario.load]
users = [32]
[[claims.scenario.stacks]]
apps = ["fastapi-async"]
servers = ["uvicorn"]
workers = [1]
[[claims.scenario.stacks]]
apps = ["flask"]
servers = ["gunicorn-sync"]
workers = [1]
[claims.scenario.mixes.sleep50]
sleep = 1
[claims.scenario.mixes.sleep50.params]
sleep_ms = 50
[[claims.checks]]
label = "ratio"
of = { stack = "fastapi-async@uvicorn-w1" }
over = { stack = "flask@gunicorn-sync-w1" }
op = ">="
threshold = 5
[[claims.checks]]
label = "slow is about 20"
of = { stack = "flask@gunicorn-sync-w1" }
op = "<="
threshold = 21
"""


def parsed_claim() -> Claim:
    import tomllib

    data = tomllib.loads(CLAIMS)
    return parse_claims(data, "claims.toml", Path("claims.toml")).claims[0]


def test_evaluate_claim_from_a_parsed_file() -> None:
    claim = parsed_claim()
    rows = rows_for(FAST, [600, 620, 610]) + rows_for(SLOW, [19.5, 19.6, 19.4])
    result = evaluate_claim(claim, rows, run_dir="runs/x")
    assert result.verdict == SUPPORTED
    assert [c.verdict for c in result.checks] == [SUPPORTED, SUPPORTED]
    assert result.run_dir == "runs/x"
    result = evaluate_claim(claim, bound(rows, SLOW.stack))
    assert result.verdict == INCONCLUSIVE
    # "slow <= 21" with slow's throughput a lower bound cannot be supported either.
    assert [c.verdict for c in result.checks] == [INCONCLUSIVE, INCONCLUSIVE]


def test_not_run_is_inconclusive_and_says_why() -> None:
    result = not_run(parsed_claim(), "PreflightError: nginx not found")
    assert result.verdict == INCONCLUSIVE
    assert result.reason == "not run: PreflightError: nginx not found"
    assert result.checks == ()


def test_noisy_repeats_are_counted_and_left_to_the_interval() -> None:
    rows = rows_for(FAST, [600, 620, 610]) + rows_for(SLOW, [19.5, 19.6, 19.4])
    rows[0]["noisy"] = "true"
    result = evaluate_check(ratio_check(">=", 5), rows)
    assert [f.noisy for f in result.figures] == [1, 0]
    assert result.verdict == SUPPORTED
