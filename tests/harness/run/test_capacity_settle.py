"""harness.run.capacity's settle rounds against a host whose speed moves between rounds:
a round whose ladder brackets nothing widens it in further passes of the same round, and
the capacities read from the windows rest on bounds from every round. The windows are
simulated (run_rounds replaced): what is tested is the order of the rounds, not a server."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.plan.capacity import WIDEN, WIDEN_STEPS
from harness.plan.cells import Cell
from harness.results.capacity import capacity_rows
from harness.run import capacity as run_capacity_module
from tests.harness.plan.test_capacity_plan import plan

SETTLE = "[capacity]\nstart_rps = 200\nprecision = 0.05\nsettle_rounds = 4"
W1, W2 = "flask@gunicorn-sync-w1", "flask@gunicorn-sync-w2"
# Each stack's true capacity on a steady host, and the host's speed in each round (the
# search's rounds run at 1.0; settle rounds 1.6x faster, 1.6x slower, far slower, steady).
CAPACITY = {W1: 1000.0, W2: 1800.0}
SETTLE_SPEED = [1.6, 1 / 1.6, 0.3, 1.0]


def fake_rounds(calls: list[list[Cell]], speeds: dict[int, float]) -> Any:
    def run_rounds(rounds: list[list[Cell]], ctx: Any, fleet: Any, emit: Any, src: Any) -> None:
        (cells,) = rounds
        calls.append(cells)
        for cell in cells:
            assert cell.target_rps is not None
            fast = cell.target_rps <= CAPACITY[cell.stack.id] * speeds.get(cell.round, 1.0)
            emit({
                "stack": cell.stack.id, "mix": cell.mix.name, "users": cell.users,
                "round": cell.round, "order": cell.order, "target_rps": cell.target_rps,
                "status": "ok", "requests": 1000, "errors": 0, "cut_off": 0,
                "p99_ms": 40.0 if fast else 900.0, "generator_bound": False, "cold": False,
                "server_cpus": "1",
            })  # fmt: skip

    return run_rounds


def test_settle_rounds_widen_until_each_round_brackets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = plan(tmp_path, capacity=SETTLE)
    calls: list[list[Cell]] = []
    speeds: dict[int, float] = {}
    rows: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    original = fake_rounds(calls, speeds)

    # The settle rounds' numbers follow the search's steps: each gets its host speed when
    # its first pass starts.
    def with_speeds(rounds: list[list[Cell]], *args: Any) -> None:
        number = rounds[0][0].round
        if info.get("settle_rounds") and number in info["settle_rounds"]:
            speeds[number] = SETTLE_SPEED[info["settle_rounds"].index(number)]
        original(rounds, *args)

    monkeypatch.setattr(run_capacity_module, "run_rounds", with_speeds)
    ctx = SimpleNamespace(scenario=scenario)
    run_capacity_module.run_capacity(ctx, None, rows.append, 7, info, lambda _: None)  # type: ignore[arg-type]

    settle = info["settle_rounds"]
    assert len(settle) == 4
    searches = info["searches"]
    for key in (f"{W1}|json", f"{W2}|json"):
        assert searches[key]["end"] == "bracketed", searches[key]
    # The fast round widened upwards, the slow ones downwards, each pass in the same round,
    # the windows of a round placed in order; the steady round needed no widening.
    widened = info["widened"]
    assert set(widened) == {str(n) for n in settle[:3]}
    fast, slow, slowest = (widened[str(n)] for n in settle[:3])
    assert set(fast) == set(slow) == set(slowest) == set(searches)
    for key in fast:
        ladder = searches[key]["ladder"]
        assert all(r > max(ladder) for r in fast[key]) and fast[key] == sorted(fast[key])
        assert all(r < min(ladder) for r in slow[key]) and slow[key] == sorted(slow[key])[::-1]
    # Far slower: the widening stops after WIDEN_STEPS rates.
    assert {len(v) for v in slowest.values()} == {WIDEN_STEPS}
    for number in settle:
        orders = [c.order for cells in calls for c in cells if c.round == number]
        assert orders == list(range(1, len(orders) + 1))
    # Every round but the slowest brackets; the capacity rests on all four.
    got = {r["stack"]: r for r in capacity_rows(rows, info)}
    for stack, true in CAPACITY.items():
        row = got[stack]
        assert row["rounds"] == 4
        assert row["capacity_low"] == 0  # the far slower round: below every rate offered
        assert row["capacity_high"] > true * 1.6 * 0.95
        # The lower middle of four rounds: the slower round's, within a widening step.
        assert true / 1.6 / WIDEN <= row["capacity_rps"] <= true / 1.6
