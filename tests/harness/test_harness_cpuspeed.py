"""harness.cpuspeed: the CPU speed probe, for real on this machine's CPUs, and the figures
a cell derives from its samples."""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import pytest

from harness import cpuspeed, fidelity
from harness.scenario import load_scenario, plan_cells

CPUS = sorted(os.sched_getaffinity(0))


def test_reference_measures_every_cpu_and_leaves_the_process_unpinned() -> None:
    before = os.sched_getaffinity(0)
    ref = cpuspeed.reference(CPUS, seconds=0.2)
    assert sorted(ref) == CPUS
    assert all(speed > 0 and math.isfinite(speed) for speed in ref.values()), ref
    # Each thread pinned itself only: the harness process keeps its CPUs.
    assert os.sched_getaffinity(0) == before


def test_probe_samples_each_cpu_from_a_thread_pinned_to_it() -> None:
    seen: dict[int, set[int]] = {}
    original = cpuspeed.burst

    def burst_and_note(n: int = cpuspeed.LOOP) -> float:
        # The CPUs the sampling thread may run on, read from inside it.
        allowed = os.sched_getaffinity(0)
        speed = original(n)
        seen.setdefault(threading.get_ident(), set()).update(allowed)
        return speed

    before = os.sched_getaffinity(0)
    cpuspeed.burst = burst_and_note  # type: ignore[assignment]
    try:
        with cpuspeed.SpeedProbe(CPUS, interval_s=0.02) as probe:
            threading.Event().wait(0.3)
    finally:
        cpuspeed.burst = original  # type: ignore[assignment]
    assert not any(t.is_alive() for t in probe._threads)
    assert sorted({s.cpu for s in probe.samples}) == CPUS
    assert all(s.speed > 0 for s in probe.samples)
    assert sorted(tuple(sorted(cpus)) for cpus in seen.values()) == [(c,) for c in CPUS]
    assert os.sched_getaffinity(0) == before


def samples(cpu: int, speeds: list[float], t0: float = 100.0) -> list[cpuspeed.SpeedSample]:
    return [cpuspeed.SpeedSample(t0 + i, cpu, s) for i, s in enumerate(speeds)]


def test_speed_pct_is_the_median_in_the_window_against_each_cpus_reference() -> None:
    data = samples(0, [10, 20, 30, 99]) + samples(1, [5, 5, 5])
    ref = {0: 40.0, 1: 10.0}
    # Window [100, 103): CPU 0's 10, 20, 30 -> 25%, 50%, 75%; 99 falls outside.
    assert cpuspeed.speed_pct(data, [0], ref, 100, 103) == 50.0
    assert cpuspeed.speed_pct(data, [1], ref, 100, 103) == 50.0
    assert cpuspeed.speed_pct(data, [0, 1], ref, 100, 103) == 50.0
    assert cpuspeed.speed_pct(data, [0], ref, 103, 104) == pytest.approx(247.5)
    assert math.isnan(cpuspeed.speed_pct(data, [0], {}, 100, 103))
    assert math.isnan(cpuspeed.speed_pct(data, [2], ref, 100, 103))
    assert math.isnan(cpuspeed.speed_pct([], [0], ref, 100, 103))


SCENARIO = """
name = "speed"
description = "cpu speed figures"
[load]
users = [1]
warmup_s = 1
measure_s = 1
[cpus]
server = [1]
load = [0]
[[stacks]]
apps = ["raw-wsgi"]
servers = ["gunicorn-sync"]
workers = [1]
[[stacks]]
apps = ["raw-asgi"]
servers = ["uvicorn"]
target = "http://127.0.0.1:9"
[mixes.json]
json = 1
"""


def test_speed_figures_warn_on_slow_cpus_and_leave_an_unmanaged_server_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    sc = load_scenario(path)
    managed, unmanaged = plan_cells(sc, None)
    assert fidelity.probe_cpus(managed, sc) == (0, 1)
    assert fidelity.probe_cpus(unmanaged, sc) == (0,)
    ref = {0: 20.0, 1: 20.0}
    speed = (samples(0, [19, 20, 21]) + samples(1, [10, 10, 11]), ref)
    info: dict[str, list[str]] = {}
    row = fidelity.speed_figures(managed, sc, speed, 100, 103, info)  # type: ignore[arg-type]
    assert row == {"server_cpu_speed_pct": 50.0, "load_cpu_speed_pct": 100.0}
    (warning,) = info["warnings"]
    assert "server CPUs at 50%" in warning and "load" not in warning.split(":")[1]
    assert "slow CPUs" in capsys.readouterr().out
    info = {}
    row = fidelity.speed_figures(unmanaged, sc, speed, 100, 103, info)  # type: ignore[arg-type]
    assert math.isnan(row["server_cpu_speed_pct"]) and row["load_cpu_speed_pct"] == 100.0
    assert info == {}
