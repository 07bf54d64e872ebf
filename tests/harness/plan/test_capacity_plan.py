"""harness.plan.capacity: the [capacity] table, its refusals named by file and key, and the
search's steps against a stack whose true capacity is known."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import ScenarioError
from harness.plan.capacity import (
    CAPACITY_DEFAULTS,
    WIDEN_STEPS,
    Search,
    parse_capacity,
    widen,
)
from harness.plan.estimate import estimate
from harness.plan.scenario import Scenario, load_scenario, with_prices
from harness.results.capacity import CapacitySpec
from tests.conftest import readme_keys

SCENARIO = """
name = "t"
{top}
[cpus]
server = [1]
load = [0]
[load]
warmup_s = 1
measure_s = 2
users = [50]
{load}
{capacity}
[[stacks]]
apps = ["flask"]
servers = ["gunicorn-sync"]
workers = [1, 2]
[mixes.json]
json = 1
"""
OPEN = 'mode = "open"'


def plan(tmp_path: Path, load: str = OPEN, capacity: str = "[capacity]", top: str = "") -> Scenario:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(load=load, capacity=capacity, top=top))
    return load_scenario(path, machine=[0, 1])


def refusal(tmp_path: Path, **keys: str) -> list[str]:
    with pytest.raises(ScenarioError) as excinfo:
        plan(tmp_path, **keys)
    return str(excinfo.value).replace(f"{tmp_path}/", "").splitlines()


def test_defaults_and_the_first_rate_as_the_cold_level(tmp_path: Path) -> None:
    scenario = plan(tmp_path)
    assert scenario.capacity == CapacitySpec()
    assert scenario.load.rates == (CapacitySpec().start_rps,)
    spec = plan(tmp_path, capacity="[capacity]\np99_ms = 50\nstart_rps = 10").capacity
    assert spec is not None and spec.p99_ms == 50 and spec.start_rps == 10
    assert plan(tmp_path, load=f"{OPEN}\nrates = [10]", capacity="").capacity is None


@pytest.mark.parametrize(
    ("load", "capacity", "expected"),
    [
        ("", "[capacity]",
         's.toml: load.mode: [capacity] searches arrival rates: set mode = "open"'),
        (f"{OPEN}\nrates = [10]", "[capacity]",
         "s.toml: load.rates: a capacity search chooses the rates: leave rates out"),
        (f'{OPEN}\ndesign = "isolated"', "[capacity]",
         's.toml: load.design: [capacity] steps are windows of rounds: design = "rounds"'),
        (f"{OPEN}\nrounds = 3", "[capacity]",
         "s.toml: load.rounds: [capacity] plans its own rounds: give capacity.settle_rounds"),
        (OPEN, "[capacity]\np99 = 100", "s.toml: capacity.p99: unknown key (allowed: "
         + ", ".join(sorted(CAPACITY_DEFAULTS)) + ")"),
        (OPEN, "[capacity]\nprecision = 0", "s.toml: capacity.precision: expected a number in "
         "(0, 1], got 0"),
        (OPEN, "[capacity]\nsettle_rounds = 2.5", "s.toml: capacity.settle_rounds: expected "
         "an int >= 1, got 2.5"),
        (OPEN, "[capacity]\np99_ms = true", "s.toml: capacity.p99_ms: expected a number > 0, "
         "got True"),
        (OPEN, "[capacity]\nprice_gb_hour = -1", "s.toml: capacity.price_gb_hour: expected a "
         "number >= 0, got -1"),
        (OPEN, "[capacity]\nstart_rps = 500\nmax_rps = 400",
         "s.toml: capacity.start_rps: 500 is above max_rps 400"),
    ],
)  # fmt: skip
def test_bad_capacity_keys_are_named(
    tmp_path: Path, load: str, capacity: str, expected: str
) -> None:
    assert expected in refusal(tmp_path, load=load, capacity=capacity)


def test_capacity_must_be_a_table(tmp_path: Path) -> None:
    problems = refusal(tmp_path, capacity="", top="capacity = 3")
    assert "s.toml: capacity: expected a table, got 3" in problems


def test_the_readme_table_of_capacity_keys_is_the_code() -> None:
    table = readme_keys("capacity")
    assert list(table) == list(CAPACITY_DEFAULTS)
    for key, default in CAPACITY_DEFAULTS.items():
        assert float(table[key]) == default, key
    problems: list[str] = []
    assert parse_capacity({}, lambda key, problem: problems.append(key)) == CapacitySpec()
    assert problems == []


def run_search(capacity: float, spec: CapacitySpec, bound_from: float = 1e12) -> Search:
    """A search against a stack that meets the objective up to `capacity` requests/s (and
    whose generator is the limit from bound_from up)."""
    search = Search("s", "json", spec)
    while not search.end:
        assert search.steps < 60, search
        search.record(search.rate <= capacity, generator_bound=search.rate >= bound_from)
    return search


@pytest.mark.parametrize("capacity", [1, 7, 150, 199, 200, 201, 1234, 9999, 39000])
def test_the_search_brackets_the_capacity_within_the_precision(capacity: int) -> None:
    spec = CapacitySpec(start_rps=200, max_rps=40000, precision=0.05)
    search = run_search(capacity, spec)
    assert search.end == "bracketed", search
    assert search.lo is not None and search.hi is not None
    assert search.lo <= capacity < search.hi
    assert search.hi <= search.lo * 1.05 or search.hi - search.lo <= 1
    assert search.steps <= 20
    below, lo, hi = (*search.ladder(),) if len(search.ladder()) == 3 else (None, *search.ladder())
    assert (lo, hi) == (search.lo, search.hi)
    assert below is None or below < lo


def test_the_search_ends_at_max_rps_below_one_and_at_the_generator() -> None:
    spec = CapacitySpec(start_rps=200, max_rps=1000)
    top = run_search(5000, spec)
    assert top.lo == 1000 and top.hi is None and top.end.startswith("max_rps met")
    assert top.ladder() == (952, 1000)
    none = run_search(0, spec)
    assert none.lo is None and none.hi == 1 and none.end.startswith("not even 1 request/s")
    assert none.ladder() == (1,)
    bound = run_search(5000, CapacitySpec(start_rps=200), bound_from=800)
    assert bound.lo == 800 and bound.end.startswith("generator-bound")


def test_a_settle_round_widens_a_ladder_until_it_brackets_the_capacity() -> None:
    spec = CapacitySpec(max_rps=2000)
    ladder = (952, 1000, 1050)
    # Bracketed (even with a noisy edge above): nothing more to offer.
    assert widen({952: True, 1000: True, 1050: False}, ladder, spec) is None
    assert widen({952: True, 1000: False, 1050: True}, ladder, spec) is None
    # Every rate met the objective: 25% above the highest, then above that ...
    assert widen(dict.fromkeys(ladder, True), ladder, spec) == 1312
    assert widen(dict.fromkeys((*ladder, 1312), True), ladder, spec) == 1640
    # ... until one misses it, or WIDEN_STEPS rates beyond the ladder, or max_rps.
    assert widen({**dict.fromkeys((*ladder, 1312), True), 1640: False}, ladder, spec) is None
    above = (1312, 1640, 2050)[:WIDEN_STEPS]
    assert widen(dict.fromkeys((*ladder, *above), True), ladder, spec) is None
    assert widen(dict.fromkeys((*ladder, 1312, 1640), True), ladder, spec) == 2000
    assert widen(dict.fromkeys((*ladder, 1312, 1640, 2000), True), ladder, spec) is None
    # Not even the lowest met it (whatever the higher ones did): 25% below the lowest.
    assert widen(dict.fromkeys(ladder, False), ladder, spec) == 761
    assert widen({952: False, 1000: True, 1050: False}, ladder, spec) == 761
    assert widen({**dict.fromkeys(ladder, False), 761: True}, ladder, spec) is None
    below = {761: False, 608: False, 486: False}
    assert widen({**dict.fromkeys(ladder, False), **below}, ladder, spec) is None
    # Not below 1 request/s; nothing for a search that left no ladder.
    assert widen({2: False}, (2,), spec) == 1 and widen({1: False}, (1,), spec) is None
    assert widen({}, (), spec) is None


def test_a_failed_window_ends_the_search_and_leaves_nothing_to_settle() -> None:
    search = Search("s", "json", CapacitySpec())
    search.record(True)
    search.record(False, failed="the window at 400/s failed")
    assert search.end == "failed: the window at 400/s failed" and search.ladder() == ()


def test_the_estimate_counts_search_steps_and_settle_windows(tmp_path: Path) -> None:
    scenario = plan(tmp_path, capacity="[capacity]\nsettle_rounds = 3")
    e = estimate(scenario)
    # Nine steps, then three settle rounds of a ladder of three and one widened rate.
    assert e.cells == 2 * (9 + 3 * 4) and e.rounds == 9 + 3


def test_prices_from_the_command_line_replace_the_scenarios(tmp_path: Path) -> None:
    scenario = plan(tmp_path, capacity="[capacity]\nprice_core_hour = 0.5")
    priced = with_prices(scenario, None, 0.01)
    assert priced.capacity is not None and scenario.capacity is not None
    assert (priced.capacity.price_core_hour, priced.capacity.price_gb_hour) == (0.5, 0.01)
    assert priced.capacity.p99_ms == scenario.capacity.p99_ms
    with pytest.raises(ScenarioError, match="this scenario has no \\[capacity\\]"):
        with_prices(plan(tmp_path, load="", capacity=""), 0.1, None)
