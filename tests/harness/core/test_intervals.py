"""harness.core.intervals: order-statistic intervals of the median, labelled with their
exact level, paired per-round comparisons, and ratios between two runs; coverage checked
on simulated data."""

from __future__ import annotations

import math
import random

import pytest

from harness.core.intervals import (
    Interval,
    bounded_median_interval,
    format_level,
    median_interval,
    median_ranks,
    paired_bounds,
    paired_interval,
    paired_values,
    ratio_between,
    rounds_for,
    shift_ranks,
)

TRIALS = 4000


def test_levels_are_the_binomial_ones() -> None:
    # [min, max] of n values: 1 - 2 * 0.5**n.
    assert median_ranks(2) == (1, 0.5)
    assert median_ranks(3) == (1, 0.75)
    assert median_ranks(5) == (1, pytest.approx(0.9375))
    assert median_ranks(6) == (1, pytest.approx(0.96875))
    # n = 9: [x(2), x(8)] reaches 96.1%; [x(3), x(7)] would be 82%.
    assert median_ranks(9) == (2, pytest.approx(1 - 2 * 10 / 512))
    assert median_ranks(20)[0] == 6
    assert rounds_for(0.95) == 6 and rounds_for(0.99) == 8
    assert format_level(0.96875) == "96.9%" and format_level(0.5) == "50%"


def test_few_values_say_the_level_they_reach() -> None:
    three = median_interval([3.0, 1.0, 2.0])
    assert (three.median, three.low, three.high, three.n) == (2.0, 1.0, 3.0, 3)
    assert three.level == 0.75 and not three.reaches and three.label() == "75%"
    six = median_interval([5, 1, 4, 2, 6, 3])
    assert (six.low, six.high, six.reaches, six.label()) == (1, 6, True, "96.9%")
    one = median_interval([7.0, math.nan])
    assert (one.median, one.level, one.label()) == (7.0, 0.0, "one value, no interval")
    assert not one.excludes(1.0)
    assert median_interval([]).label() == "no values" and math.isnan(median_interval([]).median)


def test_paired_values_pair_by_round() -> None:
    a = {1: 10.0, 2: 12.0, 3: 9.0, 4: math.nan}
    b = {1: 5.0, 2: 6.0, 4: 2.0, 5: 1.0}
    assert sorted(paired_values(a, b)) == [2.0, 2.0]
    assert sorted(paired_values(a, b, "difference")) == [5.0, 6.0]
    assert paired_values({1: 1.0}, {1: 0.0}) == []
    ci = paired_interval(a, b)
    assert (ci.median, ci.n, ci.level) == (2.0, 2, 0.5)


def test_bounded_values_take_the_lows_and_highs_at_the_ranks() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 6.0, 3.0]
    assert bounded_median_interval(values, values, values) == median_interval(values)
    # Five rounds: [lowest low, highest high] at 93.8%; an open high end stays open.
    lows, highs = [400.0, 440.0, 0.0, 400.0, 363.0], [440.0, math.inf, 330.0, 440.0, 400.0]
    ci = bounded_median_interval(lows, lows, highs)
    assert (ci.median, ci.low, ci.high, ci.n) == (400.0, 0.0, math.inf, 5)
    assert ci.level == pytest.approx(0.9375)
    # Nine rounds: the second lowest low and the second highest high.
    lows = [float(v) for v in range(100, 190, 10)]
    highs = [v * 1.1 for v in lows[:-1]] + [math.inf]
    ci = bounded_median_interval(lows, lows, highs)
    assert (ci.low, ci.high, ci.median) == (110.0, pytest.approx(187.0), 140.0)
    # Of an even number, the mean of the middle two, or the lower of them.
    four = [100.0, 110.0, 121.0, 133.0]
    assert bounded_median_interval(four, four, [v * 1.1 for v in four]).median == 115.5
    assert bounded_median_interval(four, four, four, lower=True).median == 110.0
    # The median given stays within the interval; no bounds, no interval.
    assert bounded_median_interval([9.0, 9.0], [1.0, 1.0], [2.0, 2.0]).median == 2.0
    assert bounded_median_interval([], [], []).n == 0


def test_paired_bounds_of_ratios_and_differences() -> None:
    a = {1: (400.0, 440.0), 2: (440.0, math.inf), 3: (0.0, 330.0), 4: (1.0, 2.0)}
    b = {1: (363.0, 400.0), 2: (400.0, 440.0), 3: (363.0, math.inf), 5: (1.0, 1.0)}
    lows, highs = paired_bounds(a, b)
    got = sorted(zip(lows, highs, strict=True))
    # Round 1: 400/400 to 440/363; round 2: 440/440 to inf; round 3: 0 to 330/363.
    assert got == [(0.0, pytest.approx(330 / 363)), (1.0, pytest.approx(440 / 363)),
                   (1.0, math.inf)]  # fmt: skip
    lows, highs = paired_bounds(a, b, "difference")
    assert sorted(zip(lows, highs, strict=True))[1:] == [(0.0, 77.0), (0.0, math.inf)]
    # b at 0 whatever its true value: no ratio for that round; b's low at 0: no upper bound.
    assert paired_bounds({1: (1.0, 2.0)}, {1: (0.0, 0.0)}) == ([], [])
    assert paired_bounds({1: (1.0, 2.0)}, {1: (0.0, 5.0)}) == ([0.2], [math.inf])


@pytest.mark.parametrize("n", [5, 6, 9])
def test_bounds_from_a_ladder_cover_the_median_at_least_as_often_as_the_level(n: int) -> None:
    # Each round's capacity is lognormal around 1000 (a host 1.4x faster or slower); a
    # round sees it only as the ladder's rates 5% apart bracket it, and not at all outside
    # a ladder of 0.8x to 1.2x (an open bound). The median's interval still covers 1000.
    rng = random.Random(n)
    ladder = [1000 * 0.8 * 1.05**k for k in range(9)]
    covered = 0
    for _ in range(TRIALS):
        lows, highs = [], []
        for _ in range(n):
            true = 1000 * rng.choice((1 / 1.4, 1.0, 1.4)) ** 0.5 * rng.lognormvariate(0, 0.1)
            lows.append(max([r for r in ladder if r <= true], default=0.0))
            highs.append(min([r for r in ladder if r > true], default=math.inf))
        ci = bounded_median_interval(lows, lows, highs)
        covered += ci.low <= 1000 <= ci.high
    assert covered / TRIALS >= median_ranks(n)[1] - 0.02, covered / TRIALS


@pytest.mark.parametrize("n", [3, 5, 6, 10, 20])
def test_the_median_interval_covers_as_often_as_its_level_says(n: int) -> None:
    # A skewed distribution (lognormal), whose median is exp(0) = 1.
    rng = random.Random(n)
    covered = 0
    for _ in range(TRIALS):
        ci = median_interval([rng.lognormvariate(0, 0.5) for _ in range(n)])
        covered += ci.low <= 1.0 <= ci.high
    level = median_ranks(n)[1]
    assert abs(covered / TRIALS - level) <= 0.03, (covered / TRIALS, level)


@pytest.mark.parametrize("rounds", [6, 9, 12])
def test_paired_ratios_cover_the_true_ratio_despite_the_host_state(rounds: int) -> None:
    # Each round's host state scales both stacks alike (fast or slow, 1.4x apart); each
    # window adds its own noise. The true ratio of a over b is 1.1.
    rng = random.Random(rounds)
    covered = decided_wrong = 0
    for _ in range(TRIALS):
        a, b = {}, {}
        for r in range(rounds):
            state = rng.choice((1.0, 1.4))
            a[r] = 1.1 * 1000 * state * rng.lognormvariate(0, 0.05)
            b[r] = 1000 * state * rng.lognormvariate(0, 0.05)
        ci = paired_interval(a, b)
        covered += ci.low <= 1.1 <= ci.high
        decided_wrong += ci.high < 1.0
    level = median_ranks(rounds)[1]
    assert abs(covered / TRIALS - level) <= 0.03, (covered / TRIALS, level)
    assert decided_wrong == 0


def test_shift_ranks_match_the_mann_whitney_tables() -> None:
    # Critical values of U for a two-sided 5% test: 5 for 6 and 6, 23 for 10 and 10,
    # so the interval runs from the 6th (24th) smallest pairwise ratio.
    assert shift_ranks(6, 6) == (6, pytest.approx(1 - 2 * 19 / 924))
    assert shift_ranks(10, 10)[0] == 24
    # Too few values for 95%: [min, max] with the level it reaches.
    assert shift_ranks(3, 3) == (1, pytest.approx(0.9))
    assert shift_ranks(2, 2) == (1, pytest.approx(2 / 3))


def test_ratio_between_two_runs_and_its_edge_cases() -> None:
    ci = ratio_between([100, 110, 120], [200, 220, 240])
    assert ci.median == pytest.approx(2.0) and ci.n == 3
    assert (ci.low, ci.high) == (pytest.approx(200 / 120), pytest.approx(240 / 100))
    assert ratio_between([100], [120]) == Interval(1.2, 1.2, 1.2, 0.0, 1)
    assert ratio_between([], [1.0]).n == 0
    assert ratio_between([math.nan, 0.0, 5.0], [10.0]).median == 2.0


@pytest.mark.parametrize(("n", "m"), [(6, 6), (5, 7), (10, 10)])
def test_the_ratio_between_runs_covers_as_often_as_its_level_says(n: int, m: int) -> None:
    # Run b is 1.2x run a; each window's noise is lognormal, as requests/s's is.
    rng = random.Random(n * 100 + m)
    covered = 0
    for _ in range(TRIALS):
        a = [1000 * rng.lognormvariate(0, 0.08) for _ in range(n)]
        b = [1200 * rng.lognormvariate(0, 0.08) for _ in range(m)]
        ci = ratio_between(a, b)
        covered += ci.low <= 1.2 <= ci.high
    level = shift_ranks(n, m)[1]
    assert abs(covered / TRIALS - level) <= 0.03, (covered / TRIALS, level)
