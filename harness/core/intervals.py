"""Intervals whose confidence is what they say, for the handful of values a run has.

The median of n values gets the distribution-free interval from order statistics: with
x(1) <= ... <= x(n), [x(j), x(n+1-j)] holds the true median with probability
1 - 2 P(Bin(n, 1/2) <= j - 1), whatever the distribution (continuous, independent
values). j is the largest rank that keeps that probability at or above the confidence
asked for; below the n that needs (6 for 95%), the widest interval [min, max] is given
with the level it does reach (n = 5: 93.8%, n = 3: 75%, n = 2: 50%), never a label it
does not have. A percentile bootstrap of a few values returns about [min, max] too, but
calls it 95%.

A comparison of two stacks is paired: one ratio (or difference) per round, where both met
the same host, and the interval of the median of those per-round values.

Two runs share no rounds, so a figure of one run against the same figure of another is
not paired: its ratio is the Hodges-Lehmann estimate (the median of every ratio of a
value of the one to a value of the other) with the distribution-free Mann-Whitney
interval of those ratios, exact for its level when the two runs' values differ by a factor
(a shift of their logarithms).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

CONFIDENCE = 0.95
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Interval:
    """A median and its interval; level is the interval's exact confidence (0 for a single
    value, NaN without values), n the values it rests on."""

    median: float
    low: float
    high: float
    level: float
    n: int

    @property
    def reaches(self) -> bool:
        """True when the interval's confidence is at least CONFIDENCE (95%)."""
        return self.level >= CONFIDENCE

    def label(self) -> str:
        """The interval's confidence as people read it: "96.9%", or why there is none."""
        if self.n == 0:
            return "no values"
        if self.n == 1:
            return "one value, no interval"
        return f"{format_level(self.level)}"

    def excludes(self, value: float) -> bool:
        """True when the whole interval lies on one side of value (a decided comparison)."""
        return self.n > 1 and (self.low > value or self.high < value)


def format_level(level: float) -> str:
    """A confidence level as a percentage with as many decimals as it needs (96.9%, 50%);
    "no" for an interval that has none (no values)."""
    if math.isnan(level):
        return "no"
    pct = round(level * 100, 1)
    return f"{pct:.0f}%" if pct == int(pct) else f"{pct:.1f}%"


def _binomial_half_cdf(k: int, n: int) -> float:
    """P(Bin(n, 1/2) <= k)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def median_ranks(n: int, confidence: float = CONFIDENCE) -> tuple[int, float]:
    """(j, level): the 1-based rank j of the interval [x(j), x(n+1-j)] and its exact level;
    the narrowest interval whose level is at least `confidence`, else [min, max]."""
    if n < 2:
        return 1, 0.0
    best = 1
    for j in range(1, n // 2 + 1):
        if 1 - 2 * _binomial_half_cdf(j - 1, n) >= confidence:
            best = j
        else:
            break
    return best, 1 - 2 * _binomial_half_cdf(best - 1, n)


def rounds_for(confidence: float = CONFIDENCE) -> int:
    """The fewest values whose [min, max] reaches the confidence (6 for 95%)."""
    n = 2
    while 1 - 2 * 0.5**n < confidence:
        n += 1
    return n


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The median of the values (NaNs left out) and its order-statistic interval."""
    data = sorted(v for v in values if not math.isnan(v))
    n = len(data)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, 0)
    med = statistics.median(data)
    j, level = median_ranks(n, confidence)
    return Interval(med, data[j - 1], data[n - j], level, n)


def bounded_median_interval(
    points: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    confidence: float = CONFIDENCE,
    lower: bool = False,
) -> Interval:
    """The median of values each known only within bounds (value i lies in [lows[i],
    highs[i]]; highs may be inf, a bound on one side only), and its interval: the lows'
    x(j) to the highs' x(n+1-j), j of median_ranks. Each order statistic of the true values
    lies between those of the lows and the highs, so the interval holds the true median with
    at least the level of the order-statistic interval. The median given is that of the
    points (NaNs left out; lower: the lower of the two middle points of an even number,
    one of the points rather than a mean of two), kept within the interval; with lows ==
    highs == points this is median_interval."""
    bounds = [(lo, hi) for lo, hi in zip(lows, highs, strict=True)
              if not (math.isnan(lo) or math.isnan(hi))]  # fmt: skip
    n = len(bounds)
    kept = [v for v in points if not math.isnan(v)]
    if n == 0 or not kept:
        return Interval(math.nan, math.nan, math.nan, math.nan, 0)
    j, level = median_ranks(n, confidence)
    low = sorted(lo for lo, _ in bounds)[j - 1]
    high = sorted(hi for _, hi in bounds)[n - j]
    middle = statistics.median_low(kept) if lower else statistics.median(kept)
    return Interval(min(max(middle, low), high), low, high, level, n)


def paired_bounds(
    a: Mapping[K, tuple[float, float]],
    b: Mapping[K, tuple[float, float]],
    compare: str = "ratio",
) -> tuple[list[float], list[float]]:
    """The bounds of a[k] / b[k] (or a[k] - b[k]) for every key both have, given each
    value's bounds (low, high): a's low over b's high to a's high over b's low. A ratio's
    low is 0 where b's high is inf, its high inf where b's low is 0 (a ratio's values are
    taken as >= 0; a key whose b is at most 0 is left out)."""
    lows: list[float] = []
    highs: list[float] = []
    for key in a.keys() & b.keys():
        (alo, ahi), (blo, bhi) = a[key], b[key]
        if any(math.isnan(v) for v in (alo, ahi, blo, bhi)):
            continue
        if compare == "difference":
            lows.append(alo - bhi)
            highs.append(ahi - blo)
            continue
        if bhi <= 0:
            continue  # b is 0 whatever its true value: no ratio, as in paired_values
        lows.append(0.0 if math.isinf(bhi) else alo / bhi)
        highs.append(ahi / blo if blo > 0 else math.inf)
    return lows, highs


def paired_values(
    a: Mapping[K, float], b: Mapping[K, float], compare: str = "ratio"
) -> list[float]:
    """a[k] / b[k] (or a[k] - b[k]) for every key (round) both have a number for; a ratio
    needs b[k] > 0."""
    out = []
    for key in a.keys() & b.keys():
        x, y = a[key], b[key]
        if math.isnan(x) or math.isnan(y):
            continue
        if compare == "difference":
            out.append(x - y)
        elif y > 0:
            out.append(x / y)
    return out


def paired_interval(
    a: Mapping[K, float],
    b: Mapping[K, float],
    compare: str = "ratio",
    confidence: float = CONFIDENCE,
) -> Interval:
    """The median of the per-round ratios (or differences) of a over b, and its interval."""
    return median_interval(paired_values(a, b, compare), confidence)


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Sample standard deviation / mean; NaN with fewer than two values or a zero mean."""
    data = [v for v in values if not math.isnan(v)]
    if len(data) < 2:
        return math.nan
    mean = statistics.fmean(data)
    return statistics.stdev(data) / mean if mean else math.nan


def _rank_sum_counts(n: int, m: int) -> list[int]:
    """counts[u]: of the comb(n + m, n) equally likely orderings of n values of one sample
    among m of another, how many give the Mann-Whitney statistic U = u (0 <= u <= n m)."""
    # table[j][u] for the current i: orderings of i values among j with U = u.
    table = [[1] for _ in range(m + 1)]
    for i in range(1, n + 1):
        new = [[1]]
        for j in range(1, m + 1):
            row = [0] * (i * j + 1)
            # The largest of the i + j values belongs to the first sample (it then beats
            # all j of the second: U grows by j) or to the second.
            for u, c in enumerate(table[j]):
                row[u + j] += c
            for u, c in enumerate(new[j - 1]):
                row[u] += c
            new.append(row)
        table = new
    return table[m]


def shift_ranks(n: int, m: int, confidence: float = CONFIDENCE) -> tuple[int, float]:
    """(k, level): the interval [d(k), d(n m + 1 - k)] of the n m sorted pairwise
    differences and its exact level 1 - 2 P(U <= k - 1); the narrowest that reaches
    `confidence`, else the widest [min, max] with the level it has."""
    counts = _rank_sum_counts(n, m)
    total = math.comb(n + m, n)

    def level_of(k: int) -> float:
        return 1 - 2 * sum(counts[:k]) / total  # 1 - 2 P(U <= k - 1)

    best = 1
    for k in range(2, n * m // 2 + 1):
        if level_of(k) < confidence:
            break
        best = k
    return best, level_of(best)


def ratio_between(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> Interval:
    """b over a for two independent sets of positive values (two runs of one figure): the
    Hodges-Lehmann median of every b_j / a_i and its Mann-Whitney interval. NaNs and
    values <= 0 are left out; n is the smaller set's size."""
    xs = [v for v in a if not math.isnan(v) and v > 0]
    ys = [v for v in b if not math.isnan(v) and v > 0]
    if not xs or not ys:
        return Interval(math.nan, math.nan, math.nan, math.nan, 0)
    ratios = sorted(y / x for x in xs for y in ys)
    med = statistics.median(ratios)
    if len(xs) < 2 or len(ys) < 2:
        return Interval(med, med, med, 0.0, 1)
    k, level = shift_ranks(len(xs), len(ys), confidence)
    return Interval(med, ratios[k - 1], ratios[len(ratios) - k], level, min(len(xs), len(ys)))
