"""Cells, one measurement each (stack x mix x users x repeat), and the order they run in.

With repeats > 1, repeat blocks stay outermost (every cell once before any cell twice),
and inside each block the cells are shuffled with a seeded generator, so stacks
interleave and a drift of the machine (heat, other tenants) spreads over every stack
instead of landing on the ones measured last. The seed is recorded in metadata.json.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from harness.plan.scenario import Mix, Scenario
from harness.plan.stacks import Stack

T = TypeVar("T")


@dataclass(frozen=True)
class Cell:
    """One measurement: stack x mix x users x repeat."""

    stack: Stack
    mix: Mix
    users: int
    repeat: int
    # Open loop only: the level's target arrival rate, requests/s (users = the pool).
    target_rps: int | None = None

    @property
    def id(self) -> str:
        level = f"q{self.target_rps}" if self.target_rps is not None else f"u{self.users}"
        return f"{self.stack.id}__{self.mix.name}__{level}__r{self.repeat}"


def shuffled_blocks(blocks: Sequence[Sequence[T]], seed: int) -> list[T]:
    """Concatenate the blocks, each shuffled with one generator seeded once."""
    rng = random.Random(seed)
    out: list[T] = []
    for block in blocks:
        items = list(block)
        rng.shuffle(items)
        out.extend(items)
    return out


def plan_cells(scenario: Scenario, seed: int | None = None) -> list[Cell]:
    """Every cell of a scenario; repeats outermost so that drift spreads over all stacks.

    With repeats > 1, each repeat block is shuffled (seed: the scenario's load.seed, else
    the one given), so that stacks interleave (harness/repeats.py)."""
    blocks = [
        [
            Cell(stack=stack, mix=mix, users=users, repeat=repeat)
            for stack in scenario.stacks
            for mix in scenario.mixes
            for users in scenario.load.users
        ]
        for repeat in range(1, scenario.load.repeats + 1)
    ]
    if scenario.load.mode == "open":
        blocks = [
            [
                Cell(c.stack, c.mix, users=c.users, repeat=c.repeat, target_rps=rate)
                for c in block
                for rate in scenario.load.rates
            ]
            for block in blocks
        ]
    order_seed = scenario.load.seed if scenario.load.seed is not None else seed
    if scenario.load.repeats > 1 and order_seed is not None:
        return shuffled_blocks(blocks, order_seed)
    return [cell for block in blocks for cell in block]
