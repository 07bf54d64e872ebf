"""Interval statistics on a handful of values: the median with a bootstrap interval, the
coefficient of variation. Pure functions, no I/O."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


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
