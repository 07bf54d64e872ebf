"""Claims judged by capacity: scenarios/workers-rule.toml is valid, a capacity experiment's
checks compare settle rounds' capacities paired by round, and each round's capacity is
known within bounds (the highest rate met, the lowest missed) that the interval carries."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from harness.claims.spec import load_claims, parse_claims
from harness.claims.verdict import INCONCLUSIVE, REFUTED, SUPPORTED, evaluate_claim
from harness.core.errors import ScenarioError
from harness.core.paths import REPO_ROOT
from harness.results.capacity import round_rows

WORKERS_RULE = REPO_ROOT / "scenarios" / "workers-rule.toml"
SPEC = {"p99_ms": 100, "max_error_pct": 0.1, "precision": 0.1}
INFO = {"spec": SPEC, "settle_rounds": [7, 8, 9]}


def test_workers_rule_file_is_valid_and_sweeps_one_to_six_workers() -> None:
    (claim,) = load_claims(WORKERS_RULE).claims
    assert claim.scenario.capacity is not None
    stacks = [s.id for s in claim.scenario.stacks]
    for family in (
        "flask@gunicorn-sync-w{}",
        "flask@gunicorn-gthread-w{}t4",
        "fastapi-async@uvicorn-w{}",
    ):
        assert [family.format(k) for k in range(1, 7)] == [s for s in stacks if s in {
            family.format(k) for k in range(1, 7)
        }]  # fmt: skip
        others = {c.over.stack for c in claim.checks if c.of.stack == family.format(3) and c.over}
        assert others == {family.format(k) for k in (1, 2, 4, 5, 6)}
    assert {c.metric for c in claim.checks} == {"capacity_rps"}


def claims_data(check: dict[str, Any], capacity: bool = True) -> dict[str, Any]:
    scenario: dict[str, Any] = {
        "load": {"mode": "open", "users": [50], "warmup_s": 0.5, "measure_s": 1},
        "stacks": [{"apps": ["flask"], "servers": ["gunicorn-sync"], "workers": [1, 3]}],
        "mixes": {"json": {"json": 1}},
    }
    if capacity:
        scenario["capacity"] = {"precision": 0.1}
    else:
        scenario["load"]["rates"] = [100]
    return {"claims": [{"id": "one", "statement": "s", "scenario": scenario, "checks": [check]}]}


CHECK = {
    "label": "3 over 1",
    "of": {"stack": "flask@gunicorn-sync-w3"},
    "over": {"stack": "flask@gunicorn-sync-w1"},
    "op": ">=",
    "threshold": 0.9,
}


@pytest.mark.parametrize(
    ("check", "capacity", "expected"),
    [
        ({**CHECK, "metric": "rps"}, True, "checks[0].metric: a capacity experiment is judged by "
         "'capacity_rps', got 'rps'"),
        ({**CHECK, "metric": "capacity_rps"}, False, "checks[0].metric: expected one of rps, "
         "p50_ms, p90_ms, p99_ms, error_rate, rejected_rate (capacity_rps with [capacity]), got "
         "'capacity_rps'"),
        ({**CHECK, "of": {"stack": "flask@gunicorn-sync-w3", "rate": 200}}, True,
         "checks[0].of.rate: not in a capacity experiment: the search picks the rates"),
    ],
)  # fmt: skip
def test_capacity_checks_are_validated(
    check: dict[str, Any], capacity: bool, expected: str
) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_claims(claims_data(check, capacity), "c.toml", Path("c.toml"))
    assert expected in str(err.value)


def window(stack: str, round_: int, rate: int, p99: float, **extra: Any) -> dict[str, Any]:
    return {
        "stack": stack, "mix": "json", "users": "50", "round": str(round_),
        "target_rps": str(rate), "status": "ok", "requests": "1000", "errors": "0",
        "cut_off": "0", "p99_ms": str(p99), "generator_bound": "False", **extra,
    }  # fmt: skip


def ladder_rows(stack: str, capacities: list[int], rates: tuple[int, ...]) -> list[dict[str, Any]]:
    """Windows of settle rounds 7.. in which every rate up to the round's capacity met the
    objective (p99 50 ms) and every rate above it missed (p99 400 ms)."""
    return [
        window(stack, 7 + i, rate, 50 if rate <= cap else 400)
        for i, cap in enumerate(capacities)
        for rate in rates
    ]


def test_round_rows_give_each_settle_round_its_capacity() -> None:
    rows = [
        window("s", 2, 400, 30),  # a search step: not a settle round
        *ladder_rows("s", [400, 440, 400], (363, 400, 440)),
        *ladder_rows("t", [0, 0, 0], (100, 110, 121)),
        *ladder_rows("u", [121, 121, 121], (100, 110, 121)),
    ]
    got = {(r["stack"], r["round"]): r for r in round_rows(rows, INFO)}
    assert sorted(got) == [(s, n) for s in "stu" for n in (7, 8, 9)]
    assert [got[("s", n)]["capacity_rps"] for n in (7, 8, 9)] == [400, 440, 400]
    assert [got[("s", n)]["capacity_high"] for n in (7, 8, 9)] == [440, math.inf, 440]
    # Not even the lowest rate met it: below 100; every rate met it: at least 121.
    assert {(got[("t", n)]["capacity_rps"], got[("t", n)]["capacity_high"]) for n in (7, 8, 9)
            } == {(0, 100)}  # fmt: skip
    assert {(got[("u", n)]["capacity_rps"], got[("u", n)]["capacity_high"]) for n in (7, 8, 9)
            } == {(121, math.inf)}  # fmt: skip
    assert got[("s", 7)]["status"] == "ok" and got[("s", 7)]["target_rps"] == ""
    # A round is noisy where any of its windows was.
    assert not any(r["noisy"] for r in got.values())
    rows[2]["noisy"] = "true"
    noisy = {(r["stack"], r["round"]) for r in round_rows(rows, INFO) if r["noisy"]}
    assert noisy == {("s", 7)}
    # A failed window fails its round, and is named.
    rows[1]["status"] = "failed: server exited"
    assert round_rows(rows, INFO)[0]["status"] == "failed: server exited"


def claim_over(rows: list[dict[str, Any]]) -> Any:
    claim = parse_claims(claims_data(CHECK), "c.toml", Path("c.toml")).claims[0]
    return evaluate_claim(claim, [*rows, *round_rows(rows, INFO)])


W1, W3 = "flask@gunicorn-sync-w1", "flask@gunicorn-sync-w3"
RATES = (300, 330, 363, 400, 440)


def test_capacities_are_compared_paired_by_settle_round() -> None:
    rows = ladder_rows(W3, [400, 440, 400], RATES) + ladder_rows(W1, [363, 400, 363], RATES)
    result = claim_over(rows)
    check = result.checks[0]
    assert result.verdict == SUPPORTED, check.reason
    assert check.n == 3 and math.isclose(check.value, 1.1, rel_tol=0.01)
    # Per round, the ratio lies within 400/400 .. 440/363 (round 8: 440/440 and open).
    assert check.ci_low == 1.0 and check.ci_high == math.inf
    # Three quarters of 1 worker's capacity in every round: at most 330/400, refuted.
    rows = ladder_rows(W3, [300, 300, 300], RATES) + ladder_rows(W1, [400, 400, 400], RATES)
    result = claim_over(rows)
    assert result.verdict == REFUTED, result.checks[0].reason
    assert result.checks[0].ci_high == pytest.approx(330 / 400)
    # One ladder step apart: the bounds of each round's ratio straddle 0.9.
    rows = ladder_rows(W3, [330, 330, 330], RATES) + ladder_rows(W1, [363, 363, 363], RATES)
    assert claim_over(rows).verdict == INCONCLUSIVE


def test_a_round_open_on_one_side_widens_the_interval_instead_of_deciding_it() -> None:
    # 3 workers met the objective at every rate offered: its capacity is at least 440, so
    # "3 reach 90% of 1" holds whatever its true value ...
    rows = ladder_rows(W3, [440, 440, 440], RATES) + ladder_rows(W1, [363, 363, 363], RATES)
    result = claim_over(rows)
    assert result.verdict == SUPPORTED, result.checks[0].reason
    assert result.checks[0].ci_low == pytest.approx(440 / 400)
    assert result.checks[0].reason.endswith(
        f"(rounds bounded on one side only: {W3} · json · 50 users: r7 >= 440, r8 >= 440, "
        "r9 >= 440)"
    )
    # When 1 worker is the open one, the ratio has no lower bound: a refutation stands ...
    rows = ladder_rows(W3, [300, 300, 300], RATES) + ladder_rows(W1, [440, 440, 440], RATES)
    assert claim_over(rows).verdict == REFUTED
    # ... and a support does not.
    higher = (363, 400, 440, 484)
    rows = ladder_rows(W3, [440, 440, 440], higher) + ladder_rows(W1, [440, 440, 440], RATES)
    result = claim_over(rows)
    assert result.verdict == INCONCLUSIVE
    assert (result.checks[0].ci_low, result.checks[0].ci_high) == (0, pytest.approx(1.1))
    # Not even the lowest rate met it in one round: that round's ratio reaches down to 0,
    # and with three rounds the interval does too.
    rows = ladder_rows(W3, [0, 440, 440], RATES) + ladder_rows(W1, [363, 363, 363], RATES)
    result = claim_over(rows)
    assert result.verdict == INCONCLUSIVE and result.checks[0].ci_low == 0
    assert f"{W3} · json · 50 users: r7 < 300" in result.checks[0].reason
