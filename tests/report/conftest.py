"""Fixtures of the report tests: synthetic run directories built in code (see synthetic.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from .synthetic import DEFAULT_STACKS, SynthSpec, SynthStack, build_run, cell_id


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default synthetic run: six stacks, mixes json and io, two user levels, failures.

    Shared by the session: tests must not write into it (build_report works on a copy).
    """
    return build_run(tmp_path_factory.mktemp("synthetic"), SynthSpec())


# The noisy synthetic run's flagged cells: one by other processes' CPU, one by TIME_WAIT.
NOISY_CPU_CELL = cell_id(DEFAULT_STACKS[4], "json", 16, 1)
NOISY_PORTS_CELL = cell_id(DEFAULT_STACKS[0], "io", 4, 1)


@pytest.fixture(scope="session")
def noisy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default synthetic run with two noisy cells (harness/measure/noise.py's two criteria)."""
    spec = SynthSpec(
        extra_columns={
            "noisy": {NOISY_CPU_CELL: "true"},
            "other_cpu_pct": {NOISY_CPU_CELL: "23.4"},
            "port_range_used_fraction": {NOISY_PORTS_CELL: "0.62"},
        }
    )
    return build_run(tmp_path_factory.mktemp("noisy"), spec)


OPEN_RATES = (200.0, 500.0, 1000.0)


@pytest.fixture(scope="session")
def open_loop_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic open-loop run: one mix, a pool of 32 users, three target rates (the
    faster stacks keep 500 requests/s, none keeps 1000)."""
    spec = SynthSpec(
        stacks=(DEFAULT_STACKS[0], DEFAULT_STACKS[4]), mixes=("json",), users=(32,),
        rates=OPEN_RATES, run_id="20261121T061500Z-synthetic-open",
    )  # fmt: skip
    return build_run(tmp_path_factory.mktemp("open"), spec)


def _crowded_stacks() -> tuple[SynthStack, ...]:
    """Twelve stacks with ids as long as the longest a scenario makes (the default
    scenario's legends once clipped at both sides with twelve)."""
    stacks = []
    for i, stack in enumerate(DEFAULT_STACKS * 2):
        server = f"{stack.server}-{'keepalive' if i % 2 else 'uds'}-{i}"
        threads = f"t{stack.threads}" if stack.threads else ""
        sid = f"{stack.app}@{server}-w{stack.workers}{threads}"
        stacks.append(dataclasses.replace(stack, id=sid, server=server))
    return tuple(stacks)


CROWDED_STACKS = _crowded_stacks()


@pytest.fixture(scope="session")
def crowded_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve long-named stacks, failures, and a noisy cell (the long flag label)."""
    spec = SynthSpec(
        stacks=CROWDED_STACKS,
        extra_columns={"noisy": {cell_id(CROWDED_STACKS[4], "json", 16, 1): "true"}},
    )
    return build_run(tmp_path_factory.mktemp("crowded"), spec)
