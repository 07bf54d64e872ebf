"""A capacity run: every stack's search (harness/plan/capacity.py) stepped in rounds, then
the settle rounds, on the stacks the rounds design keeps up (harness/run/rounds.py).

Each step is one round holding one window per unfinished search, the mixes in a shuffled
order and the stacks of each mix shuffled among themselves (plan/cells.py's blocks), so the
windows a comparison sets side by side run seconds apart. Each settle round measures every
stack at every rate of its ladder, shuffled the same way, then widens, in passes of the
same round, the ladders that did not bracket a capacity (plan/capacity.py widen). What the
search did goes into `info` (metadata.json "capacity") as it goes, so that an interrupted
run says so too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from harness.plan.capacity import Search, widen
from harness.plan.cells import Cell, shuffled_blocks
from harness.results.capacity import CapacitySpec, judge
from harness.run.rounds import Fleet, Row, Sources, run_rounds
from harness.run.window import RunContext

Printer = Callable[[str], None]
# A round's windows by ("stack|mix", offered rate).
Rows = dict[tuple[str, int], Row]


def run_capacity(
    ctx: RunContext,
    fleet: Fleet,
    emit: Callable[[Row], None],
    seed: int | None,
    info: dict[str, Any],
    out: Printer,
) -> None:
    """The search's steps, then the settle rounds; every window emitted as it ends."""
    scenario = ctx.scenario
    spec = scenario.capacity
    assert spec is not None
    pool = scenario.load.users[0]
    rng = random.Random(seed)
    searches = [Search(s.id, m.name, spec) for m in scenario.mixes for s in scenario.stacks]
    stacks = {s.id: s for s in scenario.stacks}
    mixes = {m.name: m for m in scenario.mixes}
    info.update(spec=spec.describe(), searches={}, settle_rounds=[], widened={})
    sources = Sources()
    number = placed = 0

    def run_round(planned: list[tuple[Search, int]], again: bool = False) -> Rows:
        """One round's windows; again: a further pass of the last round (its number)."""
        nonlocal number, placed
        if not again:
            number += 1
            placed = 0
        by_mix: dict[str, list[tuple[Search, int]]] = {}
        for search, rate in planned:
            by_mix.setdefault(search.mix, []).append((search, rate))
        blocks = list(by_mix.values())
        rng.shuffle(blocks)
        ordered = shuffled_blocks(blocks, rng.randrange(2**31))
        cells = [
            Cell(stacks[s.stack], mixes[s.mix], pool, number, target_rps=rate, order=i)
            for i, (s, rate) in enumerate(ordered, start=placed + 1)
        ]
        placed += len(cells)
        got: Rows = {}

        def keep(row: Row) -> None:
            got[(f"{row['stack']}|{row['mix']}", int(str(row["target_rps"])))] = row
            emit(row)

        run_rounds([cells], ctx, fleet, keep, sources)
        return got

    while running := [s for s in searches if not s.end]:
        rows = run_round([(s, s.rate) for s in running])
        for search in running:
            row = rows.get((search.key, search.rate))
            _step(search, row, spec)
            info["searches"][search.key] = search.describe()
            if search.end:
                out(f"capacity {search.key}: {search.end} after {search.steps} steps, "
                    f"ladder {list(search.ladder())}")  # fmt: skip
    for _ in range(spec.settle_rounds):
        planned = [(s, rate) for s in searches for rate in s.ladder()]
        if not planned:
            break
        info["settle_rounds"].append(number + 1)
        rows = run_round(planned)
        seen: dict[str, dict[int, bool]] = {}
        # No widening after a window that did not measure, or that met the objective only
        # as far as the generator could offer (higher rates would measure the generator).
        stopped: set[str] = set()
        while True:
            for (key, rate), row in rows.items():
                passed = row.get("status") == "ok" and judge(row, spec)[0]
                seen.setdefault(key, {})[rate] = passed
                if row.get("status") != "ok" or (passed and row.get("generator_bound") is True):
                    stopped.add(key)
            nexts = {s.key: widen(seen.get(s.key, {}), s.ladder(), spec) for s in searches}
            wider = [
                (s, next_rate) for s in searches
                if s.key not in stopped and (next_rate := nexts[s.key]) is not None
            ]  # fmt: skip
            if not wider:
                break
            widened = info["widened"].setdefault(str(number), {})
            for search, rate in wider:
                widened.setdefault(search.key, []).append(rate)
            rows = run_round(wider, again=True)


def _step(search: Search, row: Row | None, spec: CapacitySpec) -> None:
    """The search's next rate (or end) from its window's row."""
    if row is None:
        search.record(False, failed="no window was measured")
    elif row.get("status") != "ok":
        search.record(False, failed=f"the window at {search.rate}/s {row.get('status')}")
    else:
        passed, _ = judge(row, spec)
        search.record(passed, generator_bound=row.get("generator_bound") is True)
