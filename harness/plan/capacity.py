"""A scenario's [capacity] table, and the search for each stack's capacity.

The search (one per stack and mix) offers start_rps first, then doubles the rate while the
objective holds and halves it while it does not, until one rate met it and another did not
(or max_rps met it, or not even 1 request/s did); then it bisects between the last passing
rate and the first failing one, geometrically, until they are within `precision` of each
other. Every step is one window per unfinished search, all of a step in one round in a
shuffled order (harness/run/capacity.py), so the host's drift reaches every stack alike.
What is judged is harness/results/capacity.py's.

A settle round measures each stack at its ladder (the search's last passing rate, one
precision step below it, and the first failing rate). The host's speed can move the
capacity by more than that between rounds, so a round whose ladder does not bracket a
stack's capacity widens it (widen): a rate WIDEN times above the highest when every rate
met the objective, WIDEN times below the lowest when even that one missed it, up to
WIDEN_STEPS rates either side, each a pass of its own within the same round.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any

from harness.results.capacity import CapacitySpec, ladder, round_capacity

CAPACITY_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(CapacitySpec) if f.default is not MISSING
}
# How each key is checked: the rule's test and how a problem names what was expected.
_RULES: dict[str, tuple[Callable[[float], bool], str]] = {
    "count": (lambda v: isinstance(v, int) and v >= 1, "an int >= 1"),
    "fraction": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "positive": (lambda v: v > 0, "a number > 0"),
    "non-negative": (lambda v: v >= 0, "a number >= 0"),
}
_KINDS = {
    "p99_ms": "positive", "max_error_pct": "non-negative", "precision": "fraction",
    "start_rps": "count", "max_rps": "count", "settle_rounds": "count", "headroom": "fraction",
    "target_rps": "count", "price_core_hour": "non-negative", "price_gb_hour": "non-negative",
}  # fmt: skip
# The smallest rate the search offers: below it, the stack has no capacity at the objective.
MIN_RPS = 1
# A settle round that did not bracket a stack's capacity offers it rates this factor beyond
# its ladder, one at a time, at most this many either side (1.25 ** 3: about 2x).
WIDEN = 1.25
WIDEN_STEPS = 3


def parse_capacity(value: Any, bad: Callable[[str, str], None]) -> CapacitySpec | None:
    """[capacity] checked key by key (bad(key path, problem)); None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict):
        bad("capacity", f"expected a table, got {value!r}")
        return None
    for key in sorted(set(value) - set(CAPACITY_DEFAULTS)):
        bad(f"capacity.{key}", f"unknown key (allowed: {', '.join(sorted(CAPACITY_DEFAULTS))})")
    got: dict[str, Any] = {}
    for key, default in CAPACITY_DEFAULTS.items():
        item = value.get(key, default)
        check, kind = _RULES[_KINDS[key]]
        if isinstance(item, bool) or not isinstance(item, int | float) or not check(item):
            bad(f"capacity.{key}", f"expected {kind}, got {item!r}")
            item = default
        got[key] = item
    spec = CapacitySpec(**got)
    if spec.start_rps > spec.max_rps:
        bad("capacity.start_rps", f"{spec.start_rps} is above max_rps {spec.max_rps}")
    return spec


@dataclass
class Search:
    """One stack's search at one mix: lo, the highest rate that met the objective; hi, the
    lowest that did not; rate, the next to offer; end, why it stopped ("" while it runs)."""

    stack: str
    mix: str
    spec: CapacitySpec
    rate: int = 0
    lo: int | None = None
    hi: int | None = None
    end: str = ""
    steps: int = 0

    def __post_init__(self) -> None:
        if not self.rate:
            self.rate = self.spec.start_rps

    @property
    def key(self) -> str:
        return f"{self.stack}|{self.mix}"

    def record(self, passed: bool, generator_bound: bool = False, failed: str = "") -> None:
        """What the window at self.rate showed; sets the next rate or the end. failed: the
        window did not measure (the stack died, the load failed): the search ends."""
        self.steps += 1
        if failed:
            self.end = f"failed: {failed}"
            return
        if passed:
            self.lo = self.rate
            if generator_bound:
                self.end = "generator-bound: the capacity is at least this"
                return
        else:
            self.hi = self.rate
        if self.lo is not None and self.hi is not None:
            if self.hi <= self.lo * (1 + self.spec.precision) or self.hi - self.lo <= 1:
                self.end = "bracketed"
                return
            self.rate = max(self.lo + 1, min(self.hi - 1, round(math.sqrt(self.lo * self.hi))))
        elif self.hi is None:
            if self.lo == self.spec.max_rps:
                self.end = "max_rps met the objective: the capacity is at least this"
                return
            self.rate = min(self.spec.max_rps, self.rate * 2)
        else:
            if self.rate <= MIN_RPS:
                self.end = f"not even {MIN_RPS} request/s met the objective"
                return
            self.rate = max(MIN_RPS, self.rate // 2)

    def ladder(self) -> tuple[int, ...]:
        """The rates its settle rounds measure (none after a failed search)."""
        if self.end.startswith("failed"):
            return ()
        return ladder(self.lo, self.hi, self.spec)

    def describe(self) -> dict[str, Any]:
        return {"lo": self.lo, "hi": self.hi, "end": self.end, "steps": self.steps,
                "ladder": list(self.ladder())}  # fmt: skip


def widen(results: Mapping[int, bool], ladder: Sequence[int], spec: CapacitySpec) -> int | None:
    """The next rate a settle round offers a stack, given what the rates it offered so far
    showed ({rate: met the objective}) and the stack's ladder; None when the round brackets
    the capacity, or may not widen further (WIDEN_STEPS rates beyond the ladder on that
    side, max_rps or MIN_RPS reached)."""
    if not ladder or not results:
        return None
    low, high = round_capacity(results)
    if math.isinf(high):
        top = max(results)
        if sum(r > max(ladder) for r in results) >= WIDEN_STEPS or top >= spec.max_rps:
            return None
        return min(spec.max_rps, max(top + 1, round(top * WIDEN)))
    if low == 0:
        bottom = min(results)
        if sum(r < min(ladder) for r in results) >= WIDEN_STEPS or bottom <= MIN_RPS:
            return None
        return max(MIN_RPS, min(bottom - 1, int(bottom / WIDEN)))
    return None
