"""Claim charts drawn as decided: the value and its interval, the threshold, the claimed
side shaded, and in words where the interval lies; nothing cut at the figure's edge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from matplotlib.patches import Rectangle

from harness.claims.report import claim_figure, load, markdown, placement
from tests.report.extent import texts_outside

ROOT = Path(__file__).resolve().parents[3]


def check(**over: Any) -> dict[str, Any]:
    """A ratio check as claims.json holds it (async-not-faster-db's shape)."""
    base: dict[str, Any] = {
        "label": "Uvicorn async ≤ 1.1 × Gunicorn sync on PostgreSQL",
        "expression": "rps[fastapi-async@uvicorn-w1 · db · 100 users] / "
        "rps[flask@gunicorn-sync-w4 · db · 100 users] <= 1.1",
        "op": "<=", "threshold": 1.1, "value": 1.27, "ci_low": 1.06, "ci_high": 1.54,
        "ci_level": 0.96875, "verdict": "inconclusive",
        "reason": "96.9% interval [1.06, 1.54] straddles the threshold 1.1",
        "figures": [{"cell": "a", "metric": "rps"}, {"cell": "b", "metric": "rps"}],
    }  # fmt: skip
    return base | over


def test_placement_says_where_an_inconclusive_interval_lies() -> None:
    assert placement(check()) == (
        "interval [1.06, 1.54] (96.9%): wholly above 1, straddles the threshold 1.1"
    )


def test_placement_of_a_difference_a_single_figure_and_a_problem() -> None:
    diff = check(expression="p50_ms[a] - p50_ms[b] <= 1", threshold=1.0, op="<=",
                 value=0.15, ci_low=0.06, ci_high=0.29, verdict="supported")  # fmt: skip
    assert placement(diff).endswith("wholly above 0, wholly below the threshold 1")
    single = check(expression="rps[a] <= 21", threshold=21.0, value=19.5, ci_low=19.4,
                   ci_high=19.6, verdict="supported", figures=[{"metric": "rps"}])  # fmt: skip
    assert placement(single).endswith(": wholly below the threshold 21")
    bound = check(ci_low=1.2, verdict="inconclusive", reason="a: generator-bound")
    assert placement(bound).endswith("wholly above the threshold 1.1; a: generator-bound")
    assert placement(check(ci_low=None, ci_high=None, reason="no rounds")) == (
        "no interval: no rounds"
    )


def test_an_open_high_end_reads_as_infinity_and_reaches_the_panels_edge() -> None:
    # claims.json holds an infinite end as null; beside a low end it is an open interval.
    open_ = check(op=">=", threshold=0.9, value=1.1, ci_low=1.0, ci_high=None,
                  verdict="supported")  # fmt: skip
    assert placement(open_) == "interval [1, ∞] (96.9%): includes 1, wholly above the threshold 0.9"
    fig = claim_figure({"id": "c", "verdict": "supported", "checks": [open_]})
    assert fig is not None
    (ax,) = fig.axes
    (bar,) = [c for c in ax.collections if c.get_segments()]
    (segment,) = bar.get_segments()
    assert segment[0][0] == pytest.approx(1.0) and segment[1][0] == pytest.approx(ax.get_xlim()[1])
    assert texts_outside(fig) == []


def test_claims_md_gives_a_capacitys_bounds_in_each_round() -> None:
    # As claims.json holds a capacity figure: round keys as text, an open high end null.
    capacity = {"cell": "w3", "metric": "capacity_rps", "values": [362.0, 453.0, 147.0],
                "rounds": {"10": 362.0, "11": 453.0, "12": 147.0},
                "highs": {"10": 396.0, "11": None, "12": 147.0}, "median": 362.0,
                "ci_low": 147.0, "ci_high": None, "ci_level": 0.75, "noisy": 1}  # fmt: skip
    data = {"claims": [{"id": "c", "statement": "s", "verdict": "inconclusive", "reason": "r",
                        "checks": [check(figures=[capacity])]}]}  # fmt: skip
    text = markdown(data)
    assert "| w3 | capacity_rps | 362–396, 453–∞, 147 | 362 | [147, ∞] (75%) | 1 |" in text


def test_the_named_comparison_decides_what_no_difference_is() -> None:
    # claims.json says ratio or difference; the expression's " / " is only read for a file
    # written before it did.
    diff = check(compare="difference", value=0.15, ci_low=0.06, ci_high=0.29, threshold=1.0)
    assert "wholly above 0" in placement(diff)
    named = check(compare="ratio", expression="rps[a] over rps[b]", ci_low=0.5, ci_high=0.9)
    assert "wholly below 1" in placement(named)


def _spans(fig: Any) -> list[tuple[float, float]]:
    out = []
    for ax in fig.axes:
        for patch in ax.patches:
            if isinstance(patch, Rectangle) and patch.get_alpha() == pytest.approx(0.12):
                x0 = patch.get_x()
                out.append((x0, x0 + patch.get_width()))
    return out


@pytest.mark.parametrize("op", ["<=", ">="])
def test_the_chart_draws_threshold_interval_and_the_claimed_side(op: str) -> None:
    fig = claim_figure({"id": "c", "verdict": "inconclusive", "checks": [check(op=op)]})
    assert fig is not None
    (ax,) = fig.axes
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert [ln.get_xdata()[0] for ln in dashed] == [1.1]
    dotted = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert [ln.get_xdata()[0] for ln in dotted] == [1.0]
    left, right = ax.get_xlim()
    (span,) = _spans(fig)
    wanted = (left, 1.1) if op == "<=" else (1.1, right)
    assert span == pytest.approx(wanted)
    assert "straddles the threshold 1.1" in ax.get_title(loc="left")
    assert texts_outside(fig) == []


def test_committed_claim_charts_fit_their_figures() -> None:
    data = load(ROOT / "results" / "reference-claims")
    drawn = 0
    for claim in data["claims"]:
        fig = claim_figure(claim)
        if fig is None:
            continue
        drawn += 1
        assert texts_outside(fig) == [], claim["id"]
    assert drawn >= 10


def test_claims_md_says_where_each_interval_lies() -> None:
    data = load(ROOT / "results" / "reference-claims")
    text = markdown(data)
    for claim in data["claims"]:
        for ch in claim["checks"]:
            assert f"| {placement(ch)} |" in text, (claim["id"], ch["label"])
