"""Cells, one measurement each (stack x mix x level x round), and the order they run in.

Rounds stay outermost: every cell of round 1 before any of round 2, so that a drift of the
machine spreads over every stack instead of landing on the ones measured last. Inside a
round the order is drawn afresh (Abedi & Brecht's randomized multiple interleaved trials),
by blocks: the (mix, level) groups in a shuffled order, and the stacks of each group in a
shuffled order of their own. A comparison is always between stacks of one group, so the
windows it pairs run seconds apart, and the host's speed, which changes from one minute to
the next, changes less between them. The seed is recorded in metadata.json.

The rounds design also measures one cold window per stack right after it started (round
0, mix COLD_MIX: every kind of the scenario's mixes at the highest user level), so that no
window of a round is a stack's first; it is recorded and kept out of every figure.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from harness.plan.scenario import Mix, Scenario
from harness.plan.stacks import Stack

T = TypeVar("T")
COLD_MIX = "_cold"


@dataclass(frozen=True)
class Cell:
    """One measurement: stack x mix x users (x target rate) x round."""

    stack: Stack
    mix: Mix
    users: int
    round: int
    # Open loop only: the level's target arrival rate, requests/s (users = the pool).
    target_rps: int | None = None
    # The window's place in its round, from 1 (0: not placed).
    order: int = 0
    # The first window after the stack started (round 0), kept out of every figure; start
    # counts the stack's starts in the run (a resumed run starts it again).
    cold: bool = False
    start: int = 1

    @property
    def id(self) -> str:
        if self.cold:
            return f"{self.stack.id}__cold__s{self.start}"
        level = f"q{self.target_rps}" if self.target_rps is not None else f"u{self.users}"
        return f"{self.stack.id}__{self.mix.name}__{level}__r{self.round}"

    @property
    def level(self) -> tuple[str, int, int | None]:
        """(mix, users, target rate): the cells a ranking compares."""
        return self.mix.name, self.users, self.target_rps


def shuffled_blocks(blocks: Sequence[Sequence[T]], seed: int) -> list[T]:
    """Concatenate the blocks, each shuffled with one generator seeded once."""
    rng = random.Random(seed)
    out: list[T] = []
    for block in blocks:
        items = list(block)
        rng.shuffle(items)
        out.extend(items)
    return out


def _levels(scenario: Scenario) -> list[tuple[Mix, int, int | None]]:
    rates: Sequence[int | None] = scenario.load.rates if scenario.load.mode == "open" else (None,)
    return [(m, u, q) for m in scenario.mixes for u in scenario.load.users for q in rates]


def plan_rounds(scenario: Scenario, seed: int | None = None) -> list[list[Cell]]:
    """Every cell of the scenario, round by round, each round in its blocked order (seed:
    the scenario's load.seed, else the one given; None keeps the file's order)."""
    order_seed = scenario.load.seed if scenario.load.seed is not None else seed
    rng = random.Random(order_seed)
    rounds = []
    for number in range(1, scenario.load.rounds + 1):
        groups = _levels(scenario)
        if order_seed is not None:
            rng.shuffle(groups)
        cells = []
        for mix, users, rate in groups:
            stacks = list(scenario.stacks)
            if order_seed is not None:
                rng.shuffle(stacks)
            cells += [Cell(s, mix, users, number, target_rps=rate) for s in stacks]
        rounds.append([replace(c, order=i) for i, c in enumerate(cells, start=1)])
    return rounds


def plan_cells(scenario: Scenario, seed: int | None = None) -> list[Cell]:
    """The cells of plan_rounds, one round after the other."""
    return [cell for cells in plan_rounds(scenario, seed) for cell in cells]


def cold_mix(scenario: Scenario) -> Mix:
    """Every task kind of the scenario's mixes (weights summed), with their parameters:
    the cold window touches every endpoint the rounds will (pools, caches, imports)."""
    weights: dict[str, int] = {}
    params: dict[str, int] = {}
    for mix in scenario.mixes:
        for kind, weight in mix.weights:
            weights[kind] = weights.get(kind, 0) + weight
        params.update(mix.params)
    return Mix(COLD_MIX, tuple(weights.items()), tuple(sorted(params.items())))


def cold_cells(scenario: Scenario, start: int = 1) -> list[Cell]:
    """One cold window per stack the harness starts, at the highest user level (open
    loop: the lowest target rate)."""
    rate = min(scenario.load.rates) if scenario.load.mode == "open" else None
    mix = cold_mix(scenario)
    users = max(scenario.load.users)
    return [
        Cell(s, mix, users, 0, target_rps=rate, order=i, cold=True, start=start)
        for i, s in enumerate((s for s in scenario.stacks if s.managed), start=1)
    ]
