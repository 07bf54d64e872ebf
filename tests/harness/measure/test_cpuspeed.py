"""harness.measure.cpuspeed: the CPU speed probe, for real on this machine's CPUs, and the figures
a cell derives from its samples."""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

from harness.measure import cpuspeed, fidelity
from harness.plan.cells import plan_cells
from harness.plan.scenario import load_scenario

CPUS = sorted(os.sched_getaffinity(0))


def test_probe_samples_each_cpu_from_a_thread_pinned_to_it_and_stops() -> None:
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


def test_speed_is_the_median_of_the_cpus_samples_in_the_window() -> None:
    data = samples(0, [10, 20, 30, 99]) + samples(1, [5, 6, 7])
    # Window [100, 103): CPU 0's 10, 20, 30; its 99 falls outside.
    assert cpuspeed.speed(data, [0], 100, 103) == 20.0
    assert cpuspeed.speed(data, [1], 100, 103) == 6.0
    assert cpuspeed.speed(data, [0, 1], 100, 103) == 8.5
    assert cpuspeed.speed(data, [0], 103, 104) == 99.0
    assert math.isnan(cpuspeed.speed(data, [2], 100, 103))
    assert math.isnan(cpuspeed.speed([], [0], 100, 103))


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


def test_speed_figures_leave_an_unmanaged_server_out(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    sc = load_scenario(path)
    managed, unmanaged = plan_cells(sc, None)
    assert fidelity.probe_cpus(managed, sc) == (0, 1)
    assert fidelity.probe_cpus(unmanaged, sc) == (0,)
    data = samples(0, [19, 20, 21]) + samples(1, [36, 37, 38])
    row = fidelity.speed_figures(managed, sc, data, 100, 103)
    assert row == {"server_cpu_speed": 37.0, "load_cpu_speed": 20.0}
    row = fidelity.speed_figures(unmanaged, sc, data, 100, 103)
    assert math.isnan(row["server_cpu_speed"]) and row["load_cpu_speed"] == 20.0
