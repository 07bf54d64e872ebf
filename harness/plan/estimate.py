"""How long a scenario takes: the arithmetic behind `run --dry-run`, the run's first ETA
and the claims' time budget, so that all three say the same.

The per-window and per-start costs are what runs of scenarios/default.toml measured on
the 2-core test machine: a window of the rounds design takes its warm-up and measure
window plus 0.1 s of tail and about 0.4 s to drain, switch and record; a stack takes
about 2 s to start and pass its checks; a round's Locust about 2.5 s to start; a cell of
the isolated design about 4 s to start and stop its server, beside Locust's own
spawn_margin-bounded run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.plan.scenario import Scenario

WINDOW_OVERHEAD_S = 0.5
STACK_START_S = 2.0
LOCUST_START_S = 2.5
CELL_OVERHEAD_S = 4.0
# A capacity search: about this many steps (doubling from start_rps, then bisecting to 5%),
# then settle rounds of up to three rates per stack (harness/results/capacity.py ladder),
# and about one more where a round widens a ladder that did not bracket the capacity.
CAPACITY_STEPS_GUESS = 9
LADDER_RATES = 4
# A run on PostgreSQL starts (and removes) a cluster first.
DATABASE_START_S = 8.0


@dataclass(frozen=True)
class Estimate:
    """A scenario's plan in numbers: windows (cells), cold windows, stacks to start,
    rounds, and seconds: inside the measure windows that count, and in all."""

    design: str
    cells: int
    cold: int
    stacks: int
    rounds: int
    measured_s: float
    wall_s: float

    @property
    def per_window_s(self) -> float:
        """Seconds per cell or window once the stacks run (the first ETA)."""
        return self.wall_s / max(1, self.cells + self.cold)


def levels(scenario: Scenario) -> int:
    """User levels times target rates (open loop)."""
    rates = len(scenario.load.rates) if scenario.load.mode == "open" else 1
    return len(scenario.load.users) * rates


def estimate(scenario: Scenario) -> Estimate:
    """The plan's windows and how long they take, from the costs above."""
    load = scenario.load
    stacks = len(scenario.stacks)
    cells = stacks * len(scenario.mixes) * levels(scenario) * load.rounds
    rounds = load.rounds
    if scenario.capacity is not None:
        # A guess: the search's steps depend on where each stack's capacity lies.
        rounds = CAPACITY_STEPS_GUESS + scenario.capacity.settle_rounds
        per_search = CAPACITY_STEPS_GUESS + LADDER_RATES * scenario.capacity.settle_rounds
        cells = stacks * len(scenario.mixes) * per_search
    database = DATABASE_START_S if scenario.services.db == "postgres" else 0.0
    if load.design == "rounds":
        managed = sum(1 for s in scenario.stacks if s.managed)
        window = load.warmup_s + load.measure_s + WINDOW_OVERHEAD_S
        wall = (
            database
            + managed * STACK_START_S
            + (cells + managed) * window
            + (rounds + 1) * LOCUST_START_S
        )
        return Estimate("rounds", cells, managed, managed, rounds, cells * load.measure_s, wall)
    run_time = math.ceil(load.warmup_s + load.measure_s + 0.5)
    wall = database + cells * (CELL_OVERHEAD_S + run_time)
    return Estimate("isolated", cells, 0, stacks, load.rounds, cells * load.measure_s, wall)
