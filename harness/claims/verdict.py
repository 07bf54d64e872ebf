"""Verdicts: each check of a claim against the rows of its run's cells.csv.

A check's value is a figure of one cell (its median over the rounds) or the ratio (or
difference) of the same figure of two cells, paired by round: one ratio per round, where
both cells met the same host, and the median of those. Its interval is the order-statistic
interval of that median, with its exact confidence (harness/core/intervals.py): 96.9% with
6 rounds, 75% with 3, 50% with 2, and said so. Against `value op threshold`:

- supported: the whole interval is on the claimed side of the threshold;
- refuted: the whole interval is on the other side;
- inconclusive: the interval straddles the threshold, or the figures cannot be trusted:
  a failed round, errors above max_error_rate, fewer than two rounds (no interval), a
  cell missing from the run, or a generator-bound cell, except in one direction:

A generator-bound cell measured the load generator, so its throughput is a lower bound of
the server's (and its latency, which includes the generator's own queueing, an upper
bound). The check's value then is a bound too (a ratio rises with `of`, falls with
`over`), and a verdict stands only when the bound points its way: throughput of `of`
at least t times `over` with `of` generator-bound is still supported; the same with
`over` generator-bound is inconclusive. A metric with no known direction (error_rate),
or both cells bound, leaves the check inconclusive.

A capacity (capacity_rps) is known per settle round only within bounds: at least the
highest rate that met the objective, below the lowest that missed it (none: no upper
bound; harness/results/capacity.py). A check on it uses the bounds: per round, the ratio's
low is `of`'s low over `over`'s high and its high `of`'s high over `over`'s low, and the
interval runs from the lows' order statistic to the highs' (harness/core/intervals.py
bounded_median_interval), so a round that bracketed nothing widens the interval instead
of deciding it.

A claim is refuted when any check is refuted, supported when every check is supported,
inconclusive otherwise. Every verdict carries the figures and the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.claims.spec import Check, Claim, Select
from harness.core.intervals import (
    Interval,
    bounded_median_interval,
    format_level,
    paired_bounds,
    paired_values,
)
from harness.measure.aggregates import number, truthy

SUPPORTED, REFUTED, INCONCLUSIVE = "supported", "refuted", "inconclusive"
# A generator-bound figure against the server's own: throughput at least, latency at most.
BOUND_DIRECTION = {"rps": 1, "p50_ms": -1, "p90_ms": -1, "p99_ms": -1, "capacity_rps": 1}
# Metrics known per round within bounds: the column of the upper bound (the metric's own
# column holds the lower bound).
UPPER_BOUND = {"capacity_rps": "capacity_high"}
# Metrics that requests stalled through the whole window (harness/measure/figures.py) bias low.
LATENCY_METRICS = ("p50_ms", "p90_ms", "p99_ms")
VERDICTS = (SUPPORTED, REFUTED, INCONCLUSIVE)
Row = Mapping[str, Any]


@dataclass(frozen=True)
class Figure:
    """One cell's metric over its rounds, and what makes it untrustworthy."""

    cell: str
    metric: str
    values: tuple[float, ...]
    median: float
    ci_low: float
    ci_high: float
    problems: tuple[str, ...]
    # round -> value, for pairing with another cell's figure.
    rounds: dict[int, float] = field(default_factory=dict)
    # round -> the value's upper bound (UPPER_BOUND; the value itself for other metrics).
    highs: dict[int, float] = field(default_factory=dict)
    ci_level: float = math.nan
    # Repeats during which other processes used the machine (noise.py): shown, and left
    # to the interval (a noisy repeat that moved the figure widens it).
    noisy: int = 0
    # A generator-bound cell's figure: +1 the server's true value is at least the measured
    # one (throughput), -1 at most (latency), 0 unknown; None when not generator-bound.
    bound: int | None = None
    # What makes it a bound: "generator-bound".
    bound_why: str = ""
    # Rounds whose bounds are open on one side: "r3 >= 3,805, r4 < 1,892".
    open_rounds: str = ""

    def bounds(self) -> dict[int, tuple[float, float]]:
        """round -> (low, high) of the value."""
        return {k: (v, self.highs.get(k, v)) for k, v in self.rounds.items()}


@dataclass(frozen=True)
class CheckResult:
    label: str
    expression: str
    op: str
    threshold: float
    verdict: str
    reason: str
    value: float
    ci_low: float
    ci_high: float
    figures: tuple[Figure, ...]
    # The interval's exact confidence, and the rounds (pairs of rounds) it rests on.
    ci_level: float = math.nan
    n: int = 0
    # "ratio" or "difference" for a check of one cell over another; "" for one cell's figure.
    compare: str = ""


@dataclass(frozen=True)
class ClaimResult:
    id: str
    statement: str
    verdict: str
    reason: str
    checks: tuple[CheckResult, ...] = ()
    run_dir: str | None = None
    took_s: float | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _counted(rows: Sequence[Row], column: str) -> list[str]:
    """ "r<round> <count>" for each row whose count column is above 0 (none in rows of runs
    from before the column)."""
    return [f"r{r.get('round')} {r.get(column)}" for r in rows if number(r.get(column)) > 0]


def figure(rows: Sequence[Row], select: Select, metric: str, max_error_rate: float) -> Figure:
    """The rounds of one cell in rows, and every reason not to trust them."""
    rate = "" if select.rate is None else str(select.rate)
    mine = [
        r for r in rows
        if r.get("stack") == select.stack and r.get("mix") == select.mix
        and str(r.get("users")) == str(select.users) and str(r.get("target_rps") or "") == rate
    ]  # fmt: skip
    problems: list[str] = []
    ok = [r for r in mine if r.get("status") == "ok"]
    if not mine:
        problems.append(f"{select.label}: not in the run")
    failed = [f"r{r.get('round')} {r.get('status')}" for r in mine if r.get("status") != "ok"]
    if failed:
        problems.append(f"{select.label}: failed rounds ({', '.join(failed)})")
    bound, why = None, []
    if any(truthy(r.get("generator_bound")) for r in ok):
        bound = BOUND_DIRECTION.get(metric, 0)
        why.append("generator-bound")
    cut_off = _counted(ok, "cut_off")
    if cut_off:
        problems.append(
            f"{select.label}: requests cut off unanswered when the load stopped "
            f"({', '.join(cut_off)}): throughput and latency are lower bounds"
        )
    stalled = _counted(ok, "stalled")
    if stalled and metric in LATENCY_METRICS:
        problems.append(
            f"{select.label}: requests in flight through the whole window ({', '.join(stalled)}):"
            " latency leaves them out and is a lower bound"
        )
    if metric != "error_rate":
        worst = max((number(r.get("error_rate")) for r in ok), default=0.0)
        if worst > max_error_rate:
            problems.append(f"{select.label}: error rate {worst:.1%} above {max_error_rate:.1%}")
    rounds: dict[int, float] = {}
    highs: dict[int, float] = {}
    for r in ok:
        value = number(r.get(metric))
        if math.isnan(value):
            continue
        high = number(r.get(UPPER_BOUND[metric])) if metric in UPPER_BOUND else value
        rounds[int(r.get("round") or 0)] = value
        highs[int(r.get("round") or 0)] = value if math.isnan(high) else high
    values = tuple(rounds.values())
    if ok and len(values) < 2:
        problems.append(f"{select.label}: {len(values)} round(s) with a value, no interval")
    ci = bounded_median_interval(values, values, tuple(highs.values()))
    open_rounds = [
        f"r{k} >= {v:,.0f}" if math.isinf(highs[k]) else f"r{k} < {highs[k]:,.0f}"
        for k, v in sorted(rounds.items())
        if math.isinf(highs[k]) or (v == 0 and highs[k] > 0)
    ]
    return Figure(
        cell=select.label, metric=metric, values=values, median=ci.median,
        ci_low=ci.low, ci_high=ci.high, problems=tuple(problems),
        noisy=sum(truthy(r.get("noisy")) for r in ok), bound=bound, rounds=rounds,
        highs=highs, ci_level=ci.level, bound_why=", ".join(why),
        open_rounds=", ".join(open_rounds),
    )  # fmt: skip


def judge(
    op: str, threshold: float, low: float, high: float, level: float = 0.95
) -> tuple[str, str]:
    """Verdict of `value op threshold` given the value's interval [low, high], whose exact
    confidence is level."""
    interval = f"{format_level(level)} interval [{low:.4g}, {high:.4g}]"
    inside, outside = (
        (low >= threshold, high < threshold) if op == ">=" else (high <= threshold, low > threshold)
    )
    if inside:
        return SUPPORTED, f"{interval} is entirely {op} {threshold:g}"
    if outside:
        return REFUTED, f"{interval} is entirely on the other side of {threshold:g}"
    return INCONCLUSIVE, f"{interval} straddles the threshold {threshold:g}"


def value_bound(figs: Sequence[Figure]) -> int | None:
    """Whether the check's true value is at least (+1) or at most (-1) the measured one,
    given its generator-bound cells; 0: unknown; None: no cell generator-bound."""
    signs = [f.bound for f in figs]
    if all(b is None for b in signs):
        return None
    # The value rises with `of` (the first figure) and falls with `over` (the second).
    directions = {b * (1 if i == 0 else -1) for i, b in enumerate(signs) if b is not None}
    return directions.pop() if len(directions) == 1 and 0 not in directions else 0


def bounded_verdict(
    verdict: str, reason: str, op: str, bound: int | None, bound_cells: str
) -> tuple[str, str]:
    """A verdict from generator-bound figures stands only in the direction of the bound."""
    if bound is None or verdict == INCONCLUSIVE:
        return verdict, reason
    claimed_up = op == ">="
    holds = bound == 1 if (verdict == SUPPORTED) == claimed_up else bound == -1
    side = {1: "a lower bound", -1: "an upper bound", 0: "of unknown direction"}[bound]
    if bound != 0 and holds:
        return verdict, f"{reason}; {bound_cells}: the value is {side}, so it holds"
    return INCONCLUSIVE, f"{bound_cells} (the value is {side}): {reason}"


def evaluate_check(check: Check, rows: Sequence[Row]) -> CheckResult:
    figs = [figure(rows, check.of, check.metric, check.max_error_rate)]
    if check.over is not None:
        figs.append(figure(rows, check.over, check.metric, check.max_error_rate))
    problems = [p for f in figs for p in f.problems]
    if any(not f.values for f in figs):
        return CheckResult(
            check.label, check.expression, check.op, check.threshold, INCONCLUSIVE,
            "; ".join(problems), math.nan, math.nan, math.nan, tuple(figs),
            compare=_compare(check),
        )  # fmt: skip
    ci: Interval
    if check.over is None:
        ci = bounded_median_interval(figs[0].values, figs[0].values, list(figs[0].highs.values()))
    else:
        points = paired_values(figs[0].rounds, figs[1].rounds, check.compare)
        lows, highs = paired_bounds(figs[0].bounds(), figs[1].bounds(), check.compare)
        ci = bounded_median_interval(points, lows, highs)
        if ci.n < 2:
            problems.append(f"{ci.n} round(s) where both cells have a value: no paired interval")
    value, low, high = ci.median, ci.low, ci.high
    verdict, reason = judge(check.op, check.threshold, low, high, ci.level)
    opened = "; ".join(f"{f.cell}: {f.open_rounds}" for f in figs if f.open_rounds)
    if opened:
        reason += f" (rounds bounded on one side only: {opened})"
    bound_cells = "; ".join(f"{f.cell} {f.bound_why}" for f in figs if f.bound is not None)
    verdict, reason = bounded_verdict(verdict, reason, check.op, value_bound(figs), bound_cells)
    if problems:
        # The figures are shown, but a verdict needs figures that can be trusted.
        verdict, reason = INCONCLUSIVE, "; ".join(problems) + f" (measured: {reason})"
    return CheckResult(
        check.label, check.expression, check.op, check.threshold, verdict, reason, value, low,
        high, tuple(figs), ci.level, ci.n, _compare(check),
    )  # fmt: skip


def _compare(check: Check) -> str:
    return check.compare if check.over is not None else ""


def combine_checks(checks: Sequence[CheckResult]) -> tuple[str, str]:
    """Refuted if any check is, supported if all are, else inconclusive; and why."""
    refuted = [c.label for c in checks if c.verdict == REFUTED]
    if refuted:
        return REFUTED, "refuted by: " + "; ".join(refuted)
    open_ = [c.label for c in checks if c.verdict != SUPPORTED]
    if open_:
        return INCONCLUSIVE, "not decided: " + "; ".join(open_)
    return SUPPORTED, "every check is supported"


def evaluate_claim(claim: Claim, rows: Sequence[Row], **extra: Any) -> ClaimResult:
    checks = tuple(evaluate_check(c, rows) for c in claim.checks)
    verdict, reason = combine_checks(checks)
    return ClaimResult(
        claim.id, claim.statement, verdict, reason, checks, notes=claim.notes, **extra
    )


def not_run(claim: Claim, why: str, **extra: Any) -> ClaimResult:
    """A claim that could not run: inconclusive, saying why (never silently skipped)."""
    return ClaimResult(
        claim.id, claim.statement, INCONCLUSIVE, f"not run: {why}", notes=claim.notes, **extra
    )
