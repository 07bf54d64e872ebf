"""Capacity within a latency objective: what a scenario's [capacity] asks, whether a window
met it, and each stack's capacity read from a run's windows.

A capacity run (harness/run/capacity.py) searches, for every stack and mix, the highest
open-loop arrival rate whose window meets the objective: p99 at most `p99_ms`, and errors
and cut-off requests at most `max_error_pct` of those sent. Then it settles: `settle_rounds`
rounds, each measuring every stack at the rates of its ladder (one step below the last rate
that met the objective, that rate, and the first that did not), in a shuffled order, so
that the host's drift reaches every stack alike. Where a round's ladder does not bracket a
stack's capacity (every rate met the objective, or not even the lowest did), the round
widens it, a rate at a time, 25% beyond the last, up to three rates either side
(harness/plan/capacity.py widen).

A settle round's capacity is known within bounds: at least the highest rate that met the
objective with every lower rate meeting it too (0 when the lowest rate missed it), and
below the lowest rate that missed it (no upper bound when none did). The capacity is the
median of the rounds' lower bounds, the rate the stack demonstrably sustained in the median
round (the lower middle one of an even number of rounds: a rate that was offered, which
more than half the rounds sustained), and its interval runs from the order-statistic
interval's rank among the lower bounds to its rank among the upper bounds
(harness/core/intervals.py): 6 rounds (the default, the fewest that reach 95%) give
[lowest lower bound, highest upper bound] at 96.9%.

The report reads the spec and which rounds settled from metadata.json ("capacity") and
everything else from cells.csv; this module imports nothing of the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from harness.core.intervals import Interval, bounded_median_interval
from harness.results.files import write_csv
from harness.results.format import CAPACITY_COLUMNS


@dataclass(frozen=True)
class CapacitySpec:
    """The [capacity] table. A field's default is the key's default (the README's table
    of [capacity] keys is checked against these by a test)."""

    # The objective: p99 latency at most this, ms (counted from each request's intended
    # send time, so queueing counts).
    p99_ms: float = 100.0
    # ... and errors plus cut-off requests at most this % of the requests sent.
    max_error_pct: float = 0.1
    # The search ends when the first failing rate is within this fraction of the last
    # passing one (0.05: within 5%).
    precision: float = 0.05
    # The first rate offered, requests/s; the search doubles or halves from there.
    start_rps: int = 200
    # The highest rate offered: a stack that meets the objective there has capacity >= it.
    max_rps: int = 40000
    # Rounds that settle the rate (each: every stack at every rate of its ladder).
    settle_rounds: int = 6
    # Sizing: plan each core to run at this fraction of its capacity.
    headroom: float = 0.7
    # Sizing: the rate to plan for, requests/s.
    target_rps: int = 5000
    # Cost: prices per core-hour and per GB-hour of memory, in any currency. The defaults
    # are placeholders of the order of public-cloud list prices: give your own.
    price_core_hour: float = 0.04
    price_gb_hour: float = 0.005

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CapacitySpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _number(row: Mapping[str, Any], key: str) -> float:
    try:
        value = float(row.get(key))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return value


def judge(row: Mapping[str, Any], spec: CapacitySpec) -> tuple[bool, str]:
    """Whether a window met the objective, and what it showed: "p99 84 ms, 0.00% errors",
    or why not ("p99 412 ms > 100 ms", "1.20% errors and cut off > 0.1%", "failed: ...")."""
    if row.get("status") != "ok":
        return False, f"window {row.get('status')}"
    requests = _number(row, "requests")
    lost = _number(row, "errors") + _number(row, "cut_off")
    sent = requests + _number(row, "cut_off")
    error_pct = 100.0 * lost / sent if sent > 0 else math.nan
    p99 = _number(row, "p99_ms")
    seen = f"p99 {p99:.0f} ms, {error_pct:.2f}% errors and cut off"
    if math.isnan(p99) or math.isnan(error_pct):
        return False, "no requests answered"
    problems = []
    if p99 > spec.p99_ms:
        problems.append(f"p99 {p99:.0f} ms > {spec.p99_ms:g} ms")
    if error_pct > spec.max_error_pct:
        problems.append(f"{error_pct:.2f}% errors and cut off > {spec.max_error_pct:g}%")
    return (False, "; ".join(problems)) if problems else (True, seen)


def ladder(lo: int | None, hi: int | None, spec: CapacitySpec) -> tuple[int, ...]:
    """The settle rates of a stack whose search ended with last passing rate lo and first
    failing rate hi: one precision step below lo, lo and hi (those that exist), ascending."""
    rates = set()
    if lo is not None:
        rates.add(lo)
        below = int(lo / (1 + spec.precision))
        if 1 <= below < lo:
            rates.add(below)
    if hi is not None:
        rates.add(hi)
    return tuple(sorted(rates))


def round_capacity(results: Mapping[int, bool]) -> tuple[float, float]:
    """One settle round's capacity from the rates it offered {rate: met the objective}, as
    bounds (low, high): the highest rate that met it with every lower one meeting it too
    (0 when the lowest missed it), and the lowest rate that missed it (inf when none did).
    A higher rate that met the objective above one that missed it (a noisy edge) does not
    count."""
    best = 0.0
    for rate in sorted(results):
        if not results[rate]:
            return best, float(rate)
        best = float(rate)
    return best, math.inf


def bound_of(low: float, high: float) -> str:
    """How a capacity's bounds read: "at least" (no rate that missed the objective above
    it), "below" (not even the lowest rate met it), or "" (bracketed)."""
    return "at least" if math.isinf(high) else "below" if low == 0 else ""


@dataclass(frozen=True)
class Capacity:
    """One stack's capacity at one mix, with what it rests on."""

    stack: str
    mix: str
    capacity: Interval  # the median over the settle rounds and its interval (high: inf
    # when, in the rounds the interval's rank reaches, no rate missed the objective)
    bound: str  # bound_of the medians of the rounds' bounds: "", "at least" or "below"
    p50_ms: float  # median over the settle windows at the capacity rate
    p99_ms: float
    server_cpus: int
    server_cpu_pct: float  # at the capacity rate, median of the windows
    server_mb: float  # unshared memory (PSS, else RSS) at the capacity rate, MB
    falls_over_rps: float  # from this rate up every window missed the objective (falls_over)
    beyond: str  # what the windows at that rate showed
    generator_bound: bool  # a passing window was generator-bound: a lower bound
    search_end: str  # why the search stopped
    settle_windows: int

    def to_row(self, spec: CapacitySpec) -> dict[str, Any]:
        """The capacity.csv row, with the sizing and cost figures."""
        cap = self.capacity.median
        per_core = cap / self.server_cpus if self.server_cpus else math.nan
        gb = self.server_mb / 1024 if self.server_mb > 0 else math.nan
        # Cores are paid whole; memory as measured, both for one hour at the capacity rate.
        hourly = self.server_cpus * spec.price_core_hour + gb * spec.price_gb_hour
        per_million = hourly / (cap * 3600) * 1e6 if cap > 0 else math.nan
        usable = per_core * spec.headroom
        cores = math.ceil(spec.target_rps / usable) if usable > 0 else None
        return {
            "stack": self.stack,
            "mix": self.mix,
            "capacity_rps": cap,
            "capacity_low": self.capacity.low,
            "capacity_high": self.capacity.high,
            "ci_level": self.capacity.level,
            "rounds": self.capacity.n,
            "bound": self.bound,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "falls_over_rps": self.falls_over_rps,
            "beyond": self.beyond,
            "generator_bound": self.generator_bound,
            "search_end": self.search_end,
            "server_cpus": self.server_cpus,
            "server_cpu_pct": self.server_cpu_pct,
            "server_mb": self.server_mb,
            "rps_per_core": per_core,
            "rps_per_gb": cap / gb if gb > 0 else math.nan,
            "cost_per_million": per_million,
            "cores_for_target": cores,
        }


def _median(values: Iterable[float]) -> float:
    kept = sorted(v for v in values if not math.isnan(v))
    if not kept:
        return math.nan
    mid = len(kept) // 2
    return kept[mid] if len(kept) % 2 else (kept[mid - 1] + kept[mid]) / 2


def _memory(row: Mapping[str, Any]) -> float:
    pss = _number(row, "server_pss_mb")
    return pss if not math.isnan(pss) else _number(row, "server_rss_mb")


def capacities(
    rows: Sequence[Mapping[str, Any]], spec: CapacitySpec, info: Mapping[str, Any]
) -> list[Capacity]:
    """Every (stack, mix) of a capacity run's windows, from its rows and the run's
    metadata "capacity" (info: settle_rounds, the settle rounds' numbers; searches, the
    search's end per "stack|mix")."""
    settle = {int(r) for r in info.get("settle_rounds", [])}
    searches = info.get("searches", {})
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        if str(row.get("cold")).lower() in ("true", "1") or row.get("mix") == "_cold":
            continue
        groups.setdefault((str(row["stack"]), str(row["mix"])), []).append(row)
    out = []
    for (stack, mix), windows in groups.items():
        out.append(_capacity(stack, mix, windows, spec, settle, searches.get(f"{stack}|{mix}")))
    return out


def _rate(row: Mapping[str, Any]) -> int:
    return int(_number(row, "target_rps"))


def _capacity(
    stack: str,
    mix: str,
    windows: list[Mapping[str, Any]],
    spec: CapacitySpec,
    settle: set[int],
    search: Mapping[str, Any] | None,
) -> Capacity:
    by_round = _settled(windows, spec, settle)
    per_round = [round_capacity(results) for results in by_round.values()]
    lows = [low for low, _ in per_round]
    highs = [high for _, high in per_round]
    interval = bounded_median_interval(lows, lows, highs, lower=True)
    cap = interval.median
    bound = bound_of(cap, _median(highs)) if interval.n else ""
    at = [r for r in windows if int(_number(r, "round")) in settle and _rate(r) == round(cap)]
    over, beyond = falls_over(windows, spec)
    passing = [r for r in windows if judge(r, spec)[0]]
    cpus = str(windows[0].get("server_cpus") or "")
    return Capacity(
        stack=stack,
        mix=mix,
        capacity=interval,
        bound=bound,
        p50_ms=_median(_number(r, "p50_ms") for r in at),
        p99_ms=_median(_number(r, "p99_ms") for r in at),
        server_cpus=_count_cpus(cpus),
        server_cpu_pct=_median(_number(r, "server_cpu_pct") for r in at),
        server_mb=_median(_memory(r) for r in at),
        falls_over_rps=over,
        beyond=beyond,
        generator_bound=any(str(r.get("generator_bound")).lower() == "true" for r in passing),
        search_end=str((search or {}).get("end", "")),
        settle_windows=sum(len(v) for v in by_round.values()),
    )


def _settled(
    windows: Iterable[Mapping[str, Any]], spec: CapacitySpec, settle: set[int]
) -> dict[int, dict[int, bool]]:
    """The settle rounds' ladders: round -> {rate: the window met the objective}."""
    by_round: dict[int, dict[int, bool]] = {}
    for row in windows:
        if int(_number(row, "round")) in settle:
            passed, _ = judge(row, spec)
            by_round.setdefault(int(_number(row, "round")), {})[_rate(row)] = passed
    return by_round


def round_rows(rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per stack, mix and settle round, with that round's capacity (capacity_rps),
    so that a claim compares capacities paired by round as it does any figure of a cell.

    status is the first failed window's status, else "ok"; generator_bound is true where a
    window that met the objective was generator-bound; noisy, where any window of the
    round was (harness/measure/noise.py); capacity_rps is the round's lower
    bound on the capacity and capacity_high its upper bound (round_capacity; inf when no
    rate missed the objective)."""
    spec = CapacitySpec.from_json(info.get("spec") or {})
    settle = {int(r) for r in info.get("settle_rounds", [])}
    groups: dict[tuple[str, str, int], list[Mapping[str, Any]]] = {}
    for row in rows:
        number = int(_number(row, "round")) if not math.isnan(_number(row, "round")) else -1
        if number in settle:
            groups.setdefault((str(row["stack"]), str(row["mix"]), number), []).append(row)
    out = []
    for (stack, mix, number), windows in sorted(groups.items()):
        failed = [str(r.get("status")) for r in windows if r.get("status") != "ok"]
        low, high = round_capacity(_settled(windows, spec, settle)[number])
        out.append({
            "stack": stack,
            "mix": mix,
            "users": windows[0].get("users"),
            "target_rps": "",
            "round": number,
            "status": failed[0] if failed else "ok",
            "capacity_rps": low,
            "capacity_high": high,
            "generator_bound": any(
                str(r.get("generator_bound")).lower() == "true" and judge(r, spec)[0]
                for r in windows
            ),
            "noisy": any(str(r.get("noisy")).lower() == "true" for r in windows),
        })  # fmt: skip
    return out


def falls_over(windows: Sequence[Mapping[str, Any]], spec: CapacitySpec) -> tuple[float, str]:
    """The lowest rate from which every window, at it and above, missed the objective, and
    what its windows showed there (NaN, "" when the highest rate tried still met it)."""
    judged = sorted((_rate(r), *judge(r, spec)) for r in windows)
    over, beyond = math.nan, ""
    for rate, passed, why in reversed(judged):
        if passed:
            break
        over, beyond = float(rate), why
    return over, beyond


def _count_cpus(text: str) -> int:
    """How many CPUs a cpu_list ("1", "4-7", "0,2") names."""
    count = 0
    for part in text.split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        count += int(last or first) - int(first) + 1
    return count


def capacity_rows(
    rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """capacity.csv's rows from a capacity run's cells and its metadata "capacity"."""
    spec = CapacitySpec.from_json(info.get("spec") or {})
    return [c.to_row(spec) for c in capacities(rows, spec, info)]


def write_capacity_csv(
    path: Path, rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any]
) -> None:
    write_csv(path, CAPACITY_COLUMNS, capacity_rows(rows, info))
