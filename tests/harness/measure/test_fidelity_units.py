"""harness.measure.noise, repeats, fidelity, crosscheck, calibrate: parsing, statistics and flags,
on crafted input (the real runs are in test_fidelity_runs.py)."""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.core import intervals
from harness.core.errors import ScenarioError
from harness.measure import aggregates, calibration, crosscheck, fidelity, noise
from harness.plan.cells import Cell, plan_cells, shuffled_blocks
from harness.plan.scenario import Mix, Scenario, load_scenario
from harness.results import format as results_format
from harness.results.files import read_rows, write_cells_csv
from harness.results.format import CELL_COLUMNS, REPEAT_COLUMNS

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1
   1: 0100007F:9C40 0100007F:1F90 06 00000000:00000000 03:00000F9C 00000000     0        0 0 3
   2: 0100007F:9C41 0100007F:1F90 06 00000000:00000000 03:00000F9C 00000000     0        0 0 3
   3: 0100007F:9C42 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 2 1
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:A000 06 00000000
"""


def test_time_wait_counts_state_06_only(tmp_path: Path) -> None:
    assert noise.count_time_wait(TCP) == 2
    assert noise.count_time_wait(TCP.splitlines()[0]) == 0
    (tmp_path / "tcp").write_text(TCP)
    (tmp_path / "tcp6").write_text(TCP6)
    tables = (tmp_path / "tcp", tmp_path / "tcp6", tmp_path / "missing")
    assert noise.time_wait_now(tables) == 3


def test_time_wait_now_reads_this_machine() -> None:
    assert noise.time_wait_now() >= 0


def test_port_range_parses_and_refuses_garbage() -> None:
    assert noise.port_range("32768\t60999\n") == (32768, 60999)
    with pytest.raises(ValueError, match="ip_local_port_range"):
        noise.port_range("32768")
    assert noise.port_range_size() > 1000


def test_drain_waits_until_below_and_says_why_not() -> None:
    counts = iter([5000, 4000, 900])
    slept: list[float] = []
    drained = noise.drain_time_wait(True, 1000, 60, lambda: next(counts), slept.append)
    assert drained == noise.Drain(found=5000, start=900, waited_s=2.0, not_drained=None)
    stuck = noise.drain_time_wait(True, 1000, 3, lambda: 5000, slept.append)
    assert stuck.waited_s == 3 and stuck.not_drained and "5000" in stuck.not_drained
    # A keep-alive cell only counts.
    assert noise.drain_time_wait(False, 1000, 60, lambda: 5000, slept.append).waited_s == 0


def test_noise_means_flags_more_than_a_tenth_of_a_core() -> None:
    samples = [noise.NoiseSample(t, cpu, 0.5) for t, cpu in ((1, 5.0), (2, 30.0), (9, 99.0))]
    quiet = noise.noise_means(samples, 0, 1.5)
    assert quiet.other_cpu_pct == 5.0 and not quiet.noisy
    loud = noise.noise_means(samples, 0, 3)
    assert loud.other_cpu_pct == 17.5 and loud.noisy
    assert math.isnan(noise.noise_means([], 0, 1).other_cpu_pct)


def test_schedstat_is_running_plus_waiting() -> None:
    assert noise.read_schedstat("1500 500 7\n") == 2000
    with pytest.raises(ValueError):
        noise.read_schedstat("x y z")
    assert noise.read_schedstat(Path("/proc/self/schedstat").read_text()) >= 0


def test_noise_sampler_takes_samples() -> None:
    with noise.NoiseSampler() as sampler:
        time.sleep(1.2)
    assert sampler.samples and all(s.other_cpu_pct >= 0 for s in sampler.samples)


def test_cv_and_unstable_flag() -> None:
    assert intervals.coefficient_of_variation([100, 100, 100]) == 0
    assert math.isnan(intervals.coefficient_of_variation([100]))
    rows = [
        {"stack": "a", "mix": "m", "users": 8, "status": "ok", "rps": r, "p50_ms": 1.0,
         "p90_ms": 2.0, "p99_ms": 3.0, "generator_bound": False}
        for r in (100.0, 101.0, 99.0)
    ] + [
        {"stack": "b", "mix": "m", "users": 8, "status": "ok", "rps": r, "p50_ms": 1.0,
         "p90_ms": 2.0, "p99_ms": 3.0, "generator_bound": r > 150, "cut_off": int(r) % 7}
        for r in (100.0, 160.0)
    ] + [{"stack": "b", "mix": "m", "users": 8, "status": "failed", "rps": None}]  # fmt: skip
    a, b = aggregates.aggregate(rows)
    assert (a["stack"], a["n"], a["unstable"], a["generator_bound"]) == ("a", 3, False, False)
    assert a["rps_median"] == 100.0 and a["rps_ci_low"] <= 100.0 <= a["rps_ci_high"]
    assert (b["n"], b["unstable"], b["generator_bound"]) == (2, True, True)
    # cut_off: summed over the ok repeats; rows without the column count none.
    assert (a["cut_off"], b["cut_off"]) == (0, 100 % 7 + 160 % 7)


def test_aggregates_csv_has_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "aggregates.csv"
    aggregates.write_aggregates(path, [])
    assert path.read_text().strip() == ",".join(results_format.AGGREGATE_COLUMNS)


def test_shuffled_blocks_keep_blocks_and_interleave() -> None:
    blocks = [[(r, s) for s in "abcdefgh"] for r in (1, 2, 3)]
    order = shuffled_blocks(blocks, seed=3)
    assert [r for r, _ in order] == [1] * 8 + [2] * 8 + [3] * 8
    assert order != [x for b in blocks for x in b]
    assert order == shuffled_blocks(blocks, seed=3)
    assert order != shuffled_blocks(blocks, seed=4)


SCENARIO = """
name = "t"
[load]
warmup_s = 1
measure_s = 2
users = [2, 4]
rounds = 3
{extra}
[[stacks]]
apps = ["raw-wsgi"]
servers = ["gunicorn-sync", "gunicorn-gthread"]
[mixes.json]
json = 3
plaintext = 1
[mixes.io]
sleep = 2
[mixes.io.params]
sleep_ms = 5
"""


def scenario_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(extra=extra))
    return path


def test_plan_with_rounds_is_shuffled_per_round_by_blocks(tmp_path: Path) -> None:
    sc = load_scenario(scenario_file(tmp_path, "seed = 11"))
    cells = plan_cells(sc)
    assert [c.round for c in cells] == [1] * 8 + [2] * 8 + [3] * 8
    assert [c.order for c in cells] == list(range(1, 9)) * 3
    assert len({c.id for c in cells}) == 24
    assert plan_cells(sc) == cells
    # Blocks: the two stacks of each (mix, users) group are next to each other.
    for i in range(0, 24, 2):
        assert cells[i].level == cells[i + 1].level != cells[(i + 2) % 24].level or i % 8 == 6
    orders = {tuple((c.level, c.stack.id) for c in cells[r * 8 : r * 8 + 8]) for r in range(3)}
    assert len(orders) > 1  # each round draws its own order
    # Without a seed in the file, the runner's seed decides.
    plain = load_scenario(scenario_file(tmp_path))
    assert plan_cells(plain, 11) == cells


def test_fidelity_keys_are_validated(tmp_path: Path) -> None:
    bad = 'crosscheck = "ab"\ncalibrate = "yes"\nseed = 1.5\ntime_wait_drain_s = -1'
    with pytest.raises(ScenarioError) as exc:
        load_scenario(scenario_file(tmp_path, bad))
    for key in ("load.crosscheck", "load.calibrate", "load.seed", "load.time_wait_drain_s"):
        assert key in str(exc.value)
    sc = load_scenario(scenario_file(tmp_path, 'crosscheck = "wrk"\ncalibrate = false'))
    assert sc.load.crosscheck == "wrk" and not sc.load.calibrate


def test_generator_bound_by_cpu_or_ceiling() -> None:
    assert fidelity.load_capacity_pct(180.0, 2) == 90.0
    assert fidelity.is_generator_bound(95.0, None)
    assert not fidelity.is_generator_bound(50.0, None)
    assert fidelity.is_generator_bound(50.0, 0.92)
    assert not fidelity.is_generator_bound(50.0, 0.85)
    assert not fidelity.is_generator_bound(math.nan, None)
    assert fidelity.is_generator_bound(30.0, None, busy_pct=97.0)
    assert not fidelity.is_generator_bound(30.0, None, busy_pct=40.0)


def test_calibration_fraction_by_keepalive_mode(tmp_path: Path) -> None:
    cal = calibration.Calibration(
        key="k", client="fasthttp", server_cpus="1", load_cpus="0", keepalive_rps=10000.0,
        close_rps=4000.0, measured_at="x", stacks={}, users=[16],
    )  # fmt: skip
    assert cal.fraction(5000, keepalive=True) == 0.5
    assert cal.fraction(3800, keepalive=False) == 0.95
    sc = load_scenario(scenario_file(tmp_path))
    assert calibration.find_calibration(sc, tmp_path) is None
    keyed = calibration.Calibration(**{**cal.__dict__, "key": calibration.key_for(sc)})
    calibration.store_calibration(keyed, tmp_path)
    assert calibration.find_calibration(sc, tmp_path) == keyed
    (tmp_path / calibration.CALIBRATION_FILE).write_text("{not json")
    with pytest.raises(calibration.CalibrationError, match="unreadable"):
        calibration.find_calibration(sc, tmp_path)


WRK_OUT = """\
Running 2s test @ http://127.0.0.1:8000/json
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   250.00us  100.00us   2.00ms   90.00%
  70000 requests in 2.00s, 10.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  35012.34
Transfer/sec:      5.00MB
"""


def test_wrk_output_parsed() -> None:
    assert crosscheck.parse_wrk(WRK_OUT) == (35012.34, 5, 4)
    with pytest.raises(crosscheck.CrosscheckError, match="Requests/sec"):
        crosscheck.parse_wrk("wrk: connection refused")


def test_wrk_drives_the_mixs_get_paths_by_weight(tmp_path: Path) -> None:
    sc = load_scenario(scenario_file(tmp_path))
    json_mix, io_mix = sc.mixes
    plan = crosscheck.mix_plan(json_mix)
    assert plan == crosscheck.WrkPlan({"/json": 3, "/plaintext": 1}, ())
    assert plan.sequence() == ["/json", "/json", "/plaintext", "/json"]
    assert plan.columns() == {"wrk_paths": "/json*3;/plaintext*1", "wrk_left_out": ""}
    assert crosscheck.mix_plan(io_mix).sequence() == ["/io/sleep?ms=5"]
    # Weights reduced by their gcd, spread evenly; crud (needs state) left out.
    mixed = Mix("m", (("json", 4), ("crud", 2), ("list", 2), ("db", 6)), ())
    plan = crosscheck.mix_plan(mixed)
    assert plan.left_out == ("crud",)
    seq = plan.sequence()
    assert Counter(seq) == {"/json": 2, "/items?limit=20": 1, "/db/query": 3}
    assert seq == ["/db/query", "/json", "/items?limit=20", "/db/query", "/json", "/db/query"]
    assert crosscheck.mix_plan(Mix("c", (("crud", 1),), ())).paths == {}
    metadata = crosscheck.plans(crosscheck.with_tool(sc, "wrk"))
    assert metadata == {
        "json": {"paths": {"/json": 3, "/plaintext": 1}, "left_out": []},
        "io": {"paths": {"/io/sleep?ms=5": 2}, "left_out": []},
    }
    assert crosscheck.plans(sc) is None


def test_wrk_lua_script_cycles_through_the_list() -> None:
    plan = crosscheck.WrkPlan({"/json": 3, "/io/sleep?ms=5": 1}, ("crud",))
    script = crosscheck.lua_script(plan)
    listed = [line.strip().rstrip(",") for line in script.splitlines() if line.startswith('  "')]
    assert listed == ['"/json"', '"/json"', '"/io/sleep?ms=5"', '"/json"']
    assert "request = function()" in script and 'wrk.format("GET", paths[n])' in script
    assert "n = n % #paths + 1" in script
    with pytest.raises(crosscheck.CrosscheckError, match="refusing"):
        crosscheck.lua_script(crosscheck.WrkPlan({'/x"]]..os.exit()': 1}, ()))


def test_crosscheck_missing_binary_names_make_system_deps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crosscheck.require(None)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ScenarioError, match="make system-deps"):
        crosscheck.require("wrk")
    with pytest.raises(ScenarioError, match="expected one of"):
        crosscheck.require("ab")


PROXIED = """
name = "p"
proxy_client_keepalive = {client}
[load]
warmup_s = 1
measure_s = 2
users = [2]
[[stacks]]
apps = ["raw-wsgi"]
servers = ["{server}"]
proxy = "nginx"
[mixes.json]
json = 1
"""


def proxied_cell(tmp_path: Path, server: str, client: bool) -> tuple[Cell, Scenario]:
    path = tmp_path / f"{server}-{client}.toml"
    path.write_text(PROXIED.format(server=server, client=str(client).lower()))
    sc = load_scenario(path)
    (cell,) = plan_cells(sc)
    return cell, sc


def test_keepalive_behind_nginx_is_what_the_client_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cal = calibration.Calibration(
        key="k", client="fasthttp", server_cpus="1", load_cpus="0", keepalive_rps=10000.0,
        close_rps=4000.0, measured_at="x", stacks={}, users=[2],
    )  # fmt: skip
    drains: list[bool] = []

    def fake_drain(needed: bool, below: int, max_s: float, count: object) -> noise.Drain:
        drains.append(needed)
        return noise.Drain(found=0, start=0, waited_s=0.0, not_drained=None)

    monkeypatch.setattr(noise, "drain_time_wait", fake_drain)
    # The app server closes every connection, nginx keeps the clients' open: keep-alive.
    closing_app, sc = proxied_cell(tmp_path, "gunicorn-sync", client=True)
    assert not closing_app.stack.server.keepalive
    assert fidelity.cell_keepalive(closing_app, sc)
    window = fidelity.Window(rps=3800.0, locust_cpu_pct=10.0, start=100.0, end=103.0)
    before = fidelity.before_cell(closing_app, sc)
    row = fidelity.figures(closing_app, sc, cal, before, window, [], []).columns
    assert drains == [False] and row["ceiling_fraction"] == 0.38
    # The converse: a keep-alive app server, nginx closing the clients' connections.
    keeping_app, sc = proxied_cell(tmp_path, "gunicorn-gthread", client=False)
    assert keeping_app.stack.server.keepalive
    assert not fidelity.cell_keepalive(keeping_app, sc)
    before = fidelity.before_cell(keeping_app, sc)
    row = fidelity.figures(keeping_app, sc, cal, before, window, [], []).columns
    assert drains == [False, True] and row["ceiling_fraction"] == 0.95
    assert row["generator_bound"]
    # The rounds design gives each window addresses of its own: never a wait.
    fidelity.before_cell(keeping_app, sc, ("127.1.0.1", "127.0.1.1"))
    assert drains == [False, True, False]


def level_rows(rps: dict[tuple[str, int | None], list[float]]) -> list[dict[str, object]]:
    """cells.csv-like rows: for each (stack, target rate), one ok round per rps value."""
    out: list[dict[str, object]] = []
    for (stack, target), values in rps.items():
        for i, r in enumerate(values, start=1):
            out.append(
                {"cell": f"{stack}-{target}-{i}", "stack": stack, "mix": "m", "users": 8,
                 "target_rps": target, "round": i, "status": "ok", "rps": r, "p50_ms": r / 100,
                 "p90_ms": 2.0, "p99_ms": 3.0, "generator_bound": False}
            )  # fmt: skip
    return out


def test_cells_get_their_levels_intervals_and_unstable_flag(tmp_path: Path) -> None:
    rows = level_rows({("a", None): [100.0, 101.0, 99.0], ("b", None): [100.0, 160.0]})
    rows.append({**rows[-1], "cell": "b-3", "round": 3, "status": "failed", "rps": None})
    done = aggregates.with_repeat_columns(rows, rounds=3)
    assert all(set(REPEAT_COLUMNS) <= set(r) for r in done)
    a, b = aggregates.aggregate(rows)
    for row in done:
        agg = a if row["stack"] == "a" else b
        assert {c: row[c] for c in REPEAT_COLUMNS} == {c: agg[c] for c in REPEAT_COLUMNS}
    assert [r["unstable"] for r in done] == [False] * 3 + [True] * 3
    assert done[0]["rps_ci_low"] <= 100.0 <= done[0]["rps_ci_high"]
    # Three rounds: [min, max], a 75% interval, and it says so.
    assert (done[0]["rps_ci_low"], done[0]["rps_ci_high"], done[0]["ci_level"]) == (
        99.0,
        101.0,
        0.75,
    )
    # One round: the columns stay empty.
    single = aggregates.with_repeat_columns(rows[:1], rounds=1)
    assert all(single[0][c] is None for c in REPEAT_COLUMNS)
    # Read back by --resume (strings), the same levels and values come out.
    write_cells_csv(tmp_path / "cells.csv", [{**dict.fromkeys(CELL_COLUMNS), **r} for r in done])
    again = aggregates.with_repeat_columns(read_rows(tmp_path / "cells.csv"), rounds=3)
    assert [r["unstable"] for r in again] == [r["unstable"] for r in done]
    assert [r["rps_ci_high"] for r in again] == pytest.approx([r["rps_ci_high"] for r in done])


def test_open_loop_levels_are_kept_apart_by_target_rate() -> None:
    rows = level_rows({("a", 200): [199.0, 200.0], ("a", 800): [500.0, 790.0]})
    low, high = aggregates.aggregate(rows)
    assert (low["target_rps"], low["n"], low["unstable"]) == (200, 2, False)
    assert (high["target_rps"], high["n"], high["unstable"]) == (800, 2, True)
    done = aggregates.with_repeat_columns(rows, rounds=2)
    assert [r["unstable"] for r in done] == [False, False, True, True]


def test_what_aggregates_and_comparisons_emit_is_declared(tmp_path: Path) -> None:
    rows = level_rows({("a", None): [100.0, 101.0, 99.0], ("b", None): [90.0, 91.0, 92.0]})
    (agg, _) = aggregates.aggregate(rows)
    assert tuple(agg) == results_format.AGGREGATE_COLUMNS
    pairs = aggregates.comparisons(rows)
    assert pairs and all(tuple(p) == results_format.COMPARISON_COLUMNS for p in pairs)
    # a over b, paired by round: 100/90, 101/91, 99/92; three values, a 75% interval.
    (a_over_b,) = [p for p in pairs if (p["stack"], p["metric"]) == ("a", "rps")]
    assert a_over_b["ratio"] == pytest.approx(101 / 91) and a_over_b["ci_level"] == 0.75
    assert a_over_b["decided"] is True and a_over_b["n"] == 3
    aggregates.write_comparisons(tmp_path / "comparisons.csv", rows)
    header = (tmp_path / "comparisons.csv").read_text().splitlines()[0]
    assert header == ",".join(results_format.COMPARISON_COLUMNS)
