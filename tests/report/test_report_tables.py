"""harness.report.tables: the cells table, per-level aggregation and the ranked summary."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.core.errors import ResultsError
from harness.report.tables import (
    kind_comparison,
    kind_pivot,
    levels,
    load_run,
    mix_profile,
    scaling,
    split_flags,
    summary,
    worker_kind,
)

from .conftest import NOISY_CPU_CELL, NOISY_PORTS_CELL, OPEN_RATES
from .synthetic import DEFAULT_STACKS, SynthSpec, build_run, cell_id


def test_load_run_types_and_derived_columns(synthetic_run: Path) -> None:
    run = load_run(synthetic_run)
    cells = run.cells
    assert run.run_id == "20261121T061500Z-synthetic"
    assert len(cells) == len(DEFAULT_STACKS) * 2 * 2
    assert cells["rps"].dtype == float and cells["users"].dtype.kind in "iuf"
    failed = cells[cells["failed"]]
    assert set(failed["stack"]) == {"flask@gunicorn-gthread-w2t4", "django-wsgi@gunicorn-sync-w1"}
    assert all(split_flags(f)[0] == "failed" for f in failed["flags"])
    io_ok = cells[(cells["mix"] == "io") & ~cells["failed"]]
    assert all("errors" in split_flags(f) for f in io_ok["flags"])
    row = cells[cells["stack"] == "flask@gunicorn-gthread-w2t4"].iloc[0]
    assert row["family"] == "flask@gunicorn-gthread-w*t4"
    assert row["worker_kind"] == "sync"
    uv = cells[cells["stack"] == "fastapi-async@uvicorn-w1"].iloc[0]
    assert uv["rps_per_cpu_s"] == pytest.approx(uv["rps"] / (uv["server_cpu_pct"] / 100))
    assert (cells["cpu_model"] == "Synthetic CPU <test>").all()


def test_a_stack_behind_nginx_counts_nginx_cpu_and_memory(
    synthetic_run: Path, tmp_path: Path
) -> None:
    """nginx runs on the server's CPUs: a +nginx stack's requests per CPU-second and memory
    include nginx's, and the decision section's least memory is the stack's."""
    from harness.report.decide import decide

    run_dir = tmp_path / "run"
    shutil.copytree(synthetic_run, run_dir)
    frame = pd.read_csv(run_dir / "cells.csv", dtype=str, keep_default_na=False)
    alone = "fastapi-async@uvicorn-w1"
    # Every other stack gets an nginx in front, so without nginx's share one of them would
    # hold the least memory (the sync w1 stacks here).
    front = frame["stack"] != alone
    frame.loc[front, "nginx_cpu_pct"] = "50"
    frame.loc[front, "nginx_rss_mb"] = "500"
    frame.to_csv(run_dir / "cells.csv", index=False)
    run = load_run(run_dir)
    cells = run.cells
    row = cells[cells["stack"] == "flask@gunicorn-sync-w1"].iloc[0]
    assert row["rps_per_cpu_s"] == pytest.approx(row["rps"] / ((row["server_cpu_pct"] + 50) / 100))
    assert row["stack_mb"] == pytest.approx(row["server_pss_mb"] + 500)
    uv = cells[cells["stack"] == alone].iloc[0]
    assert uv["rps_per_cpu_s"] == pytest.approx(uv["rps"] / (uv["server_cpu_pct"] / 100))
    assert uv["stack_mb"] == pytest.approx(uv["server_pss_mb"])
    decisions = decide(run, summary(cells), 100.0)
    assert [d.least_memory[0] for d in decisions if d.least_memory] == [alone] * len(decisions)


@pytest.mark.parametrize(
    ("interface", "worker_class", "kind"),
    [
        ("wsgi", "sync", "sync"),
        ("wsgi", "gthread", "sync"),
        ("wsgi", "gevent", "async"),
        ("asgi", "uvloop-httptools", "async"),
        ("asgi", "uvicorn_worker.UvicornWorker", "async"),
        ("wsgi", "granian-wsgi", "sync"),
    ],
)
def test_worker_kind(interface: str, worker_class: str, kind: str) -> None:
    assert worker_kind(interface, worker_class) == kind


def test_summary_ranks_by_rps_and_puts_failed_last(synthetic_run: Path) -> None:
    table = summary(load_run(synthetic_run).cells)
    for _mix, group in table.groupby("mix"):
        ranked = group[group["rank"].notna()]
        assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
        assert ranked["rps"].is_monotonic_decreasing
        failed = group[group["rank"].isna()]
        assert (failed["status"] == "failed").all()
        assert (failed["flags"] == "failed").all()
        unranked = group["rank"].isna().tolist()
        assert unranked == sorted(unranked), "a failed row sits above a ranked one"
    io = table[table["mix"] == "io"].set_index("stack")
    assert pd.isna(io.loc["django-wsgi@gunicorn-sync-w1", "rank"])
    assert io.loc["django-wsgi@gunicorn-sync-w1", "failed_users"] == "4,16"


def test_summary_peak_skips_failed_levels_and_flags_them(synthetic_run: Path) -> None:
    cells = load_run(synthetic_run).cells
    table = summary(cells).set_index(["mix", "stack"])
    gthread = table.loc[("json", "flask@gunicorn-gthread-w2t4")]
    assert gthread["users"] == 4  # the 16-user level failed
    assert "some_failed" in split_flags(gthread["flags"])
    assert gthread["failed_users"] == "16"
    fast = table.loc[("json", "fastapi-async@uvicorn-w2")]
    per_stack = cells[(cells["mix"] == "json") & (cells["stack"] == "fastapi-async@uvicorn-w2")]
    assert fast["rps"] == per_stack["rps"].max()
    assert fast["cells"] == cell_id(DEFAULT_STACKS[4], "json", int(fast["users"]), 1)


def test_repeats_pool_by_median_and_keep_the_range(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path, SynthSpec(stacks=DEFAULT_STACKS[:1], mixes=("json",),
                                            users=(8,), repeats=3))  # fmt: skip
    cells = load_run(run_dir).cells
    lv = levels(cells)
    assert len(lv) == 1
    assert lv.iloc[0]["repeats"] == 3
    assert lv.iloc[0]["rps"] == pytest.approx(float(np.median(cells["rps"])))
    assert lv.iloc[0]["rps_min"] == cells["rps"].min()
    assert lv.iloc[0]["rps_max"] == cells["rps"].max()
    assert lv.iloc[0]["cells"].count(";") == 2


def test_flag_columns_from_the_harness_mark_ranked_rows(tmp_path: Path) -> None:
    fast = DEFAULT_STACKS[4]
    flagged = {cell_id(fast, "json", 16, 1): "true"}
    unstable = {cell_id(DEFAULT_STACKS[0], "json", 16, 1): "1"}
    run_dir = build_run(tmp_path, SynthSpec(
        extra_columns={"generator_bound": flagged, "unstable": unstable}))  # fmt: skip
    table = summary(load_run(run_dir).cells).set_index(["mix", "stack"])
    top = table.loc[("json", fast.id)]
    assert top["rank"] == 1
    assert split_flags(top["flags"]) == ["generator_bound"]
    assert "unstable" in split_flags(table.loc[("json", DEFAULT_STACKS[0].id), "flags"])
    assert table.loc[("io", fast.id), "flags"] == "errors"


def test_flag_columns_absent_means_unflagged(synthetic_run: Path) -> None:
    cells = load_run(synthetic_run).cells
    assert not cells["generator_bound"].any()
    assert not cells["unstable"].any()
    assert not cells["noisy"].any()
    # Runs from before the cut_off column: nothing was counted, nothing is flagged.
    assert (cells["cut_off"] == 0).all()
    assert not any("cut_off" in split_flags(f) for f in cells["flags"])


def test_cut_off_requests_flag_the_cell_and_its_level(tmp_path: Path) -> None:
    fast = DEFAULT_STACKS[4]
    counts = {cell_id(fast, "json", 16, 1): "7", cell_id(DEFAULT_STACKS[0], "json", 16, 1): "0"}
    run_dir = build_run(tmp_path, SynthSpec(extra_columns={"cut_off": counts}))
    cells = load_run(run_dir).cells.set_index("cell")
    assert cells.loc[cell_id(fast, "json", 16, 1), "cut_off"] == 7
    assert split_flags(cells.loc[cell_id(fast, "json", 16, 1), "flags"]) == ["cut_off"]
    assert "cut_off" not in cells.loc[cell_id(DEFAULT_STACKS[0], "json", 16, 1), "flags"]
    table = summary(load_run(run_dir).cells).set_index(["mix", "stack"])
    assert "cut_off" in split_flags(table.loc[("json", fast.id), "flags"])


def test_kind_comparison_and_pivot(synthetic_run: Path) -> None:
    table = summary(load_run(synthetic_run).cells)
    best = kind_comparison(table)
    assert set(best["worker_kind"]) == {"sync", "async"}
    json_best = best[best["mix"] == "json"].set_index("worker_kind")
    assert json_best.loc["async", "stack"] == "fastapi-async@uvicorn-w2"
    assert json_best.loc["sync", "stack"] == "flask@gunicorn-sync-w2"
    pivot = kind_pivot(table, {"json": "other", "io": "io-bound"}).set_index("mix")
    ratio = pivot.loc["json", "async_rps"] / pivot.loc["json", "sync_rps"]
    assert pivot.loc["json", "async_over_sync"] == pytest.approx(ratio)
    assert pivot.loc["io", "profile"] == "io-bound"


def test_scaling_lists_families_with_several_worker_counts(synthetic_run: Path) -> None:
    scaled = scaling(summary(load_run(synthetic_run).cells))
    assert set(scaled["family"]) == {"flask@gunicorn-sync-w*", "fastapi-async@uvicorn-w*"}
    first = scaled.groupby(["mix", "family"]).head(1)
    assert (first["speedup"] == 1.0).all()


def test_mix_profile() -> None:
    meta = {"scenario": {"content": {"mixes": {
        "io": {"sleep": 3, "json": 1, "params": {"sleep_ms": 5}},
        "cpu": {"cpu": 1},
        "mixed": {"json": 1, "upstream": 1, "cpu": 2},
        "light": {"json": 3, "plaintext": 1},
    }}}}  # fmt: skip
    assert mix_profile(meta, "io") == "io-bound"
    assert mix_profile(meta, "cpu") == "cpu-bound"
    assert mix_profile(meta, "mixed") == "cpu-bound"
    assert mix_profile(meta, "light") == "other"
    assert mix_profile({}, "io") == "other"


def test_missing_cells_csv_or_columns_raise(tmp_path: Path, synthetic_run: Path) -> None:
    with pytest.raises(ResultsError, match="not a run directory"):
        load_run(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ResultsError, match=r"cells\.csv is missing"):
        load_run(empty)
    broken = tmp_path / "broken"
    shutil.copytree(synthetic_run, broken)
    frame = pd.read_csv(broken / "cells.csv").drop(columns=["p99_ms"])
    frame.to_csv(broken / "cells.csv", index=False)
    with pytest.raises(ResultsError, match="p99_ms"):
        load_run(broken)


def test_noise_is_flagged_by_its_cause_other_processes_or_time_wait(noisy_run: Path) -> None:
    cells = load_run(noisy_run).cells.set_index("cell")
    assert list(cells.index[cells["noisy"]]) == [NOISY_CPU_CELL]
    assert list(cells.index[cells["time_wait"]]) == [NOISY_PORTS_CELL]
    assert split_flags(cells.loc[NOISY_CPU_CELL, "flags"]) == ["noisy"]
    ports_flags = split_flags(cells.loc[NOISY_PORTS_CELL, "flags"])
    assert "time_wait" in ports_flags and "noisy" not in ports_flags
    table = summary(load_run(noisy_run).cells).set_index(["mix", "stack"])
    # The fastest json stack peaks at the noisy level: ranked first, flagged.
    top = table.loc[("json", DEFAULT_STACKS[4].id)]
    assert top["rank"] == 1 and split_flags(top["flags"]) == ["noisy"]
    assert top["other_cpu_pct_max"] == pytest.approx(23.4)
    # The figure behind each flag travels with its level (and to summary.csv at the
    # peak): the worst round's.
    per_level = levels(load_run(noisy_run).cells).set_index(["mix", "stack", "users"])
    assert per_level.loc[("io", DEFAULT_STACKS[0].id, 4), "port_range_used_max"] == 0.62


def test_open_loop_levels_and_summary_keep_the_target_rate(open_loop_run: Path) -> None:
    cells = load_run(open_loop_run).cells
    per_level = levels(cells)
    assert len(per_level) == 2 * len(OPEN_RATES)  # one level per stack and target rate
    fast = per_level[per_level["stack"] == DEFAULT_STACKS[4].id].sort_values("target_rps")
    assert list(fast["target_rps"]) == list(OPEN_RATES)
    assert fast["rps"].iloc[0] == pytest.approx(200, rel=0.15)
    assert fast["rps"].iloc[-1] < 0.95 * OPEN_RATES[-1]  # 900 requests/s at most
    table = summary(cells).set_index("stack")
    assert table.loc[DEFAULT_STACKS[4].id, "target_rps"] == OPEN_RATES[-1]
    assert pd.isna(summary(load_run(open_loop_run).cells.drop(columns="target_rps"))[
        "target_rps"]).all()  # fmt: skip


def test_the_ranking_shows_ties_with_paired_intervals(tmp_path: Path) -> None:
    # Two stacks of the same capacity (twins) and a slower one, six rounds each. The second
    # twin's rate is the first's times these per-round factors: ahead in some rounds,
    # behind in others, so the ratio's interval holds 1 and the two are tied.
    twin = DEFAULT_STACKS[3]
    other_twin = replace(twin, id="fastapi-async@uvicorn-w1p5")
    slow = DEFAULT_STACKS[0]
    spec = SynthSpec(stacks=(twin, other_twin, slow), mixes=("json",), users=(16,), repeats=6)
    run_dir = build_run(tmp_path, spec)
    cells = pd.read_csv(run_dir / "cells.csv")
    factors = {1: 1.01, 2: 0.99, 3: 1.02, 4: 0.98, 5: 0.995, 6: 1.005}
    first = cells[cells["stack"] == twin.id].set_index("round")["rps"]
    second = cells["stack"] == other_twin.id
    cells.loc[second, "rps"] = [first[r] * factors[r] for r in cells.loc[second, "round"]]
    cells.to_csv(run_dir / "cells.csv", index=False)
    table = summary(load_run(run_dir).cells).set_index("stack")
    leader = table[table["rank"] == 1].index[0]
    runner_up = other_twin.id if leader == twin.id else twin.id
    assert not bool(table.loc[leader, "tied_with_leader"])
    assert bool(table.loc[runner_up, "tied_with_leader"]) and bool(
        table.loc[leader, "tied_with_next"]
    )
    low, high = table.loc[runner_up, "vs_leader_low"], table.loc[runner_up, "vs_leader_high"]
    assert low <= 1.0 <= high
    assert table.loc[slow.id, "rank"] == 3 and not bool(table.loc[slow.id, "tied_with_leader"])
    assert table.loc[slow.id, "vs_leader_high"] < 0.6
    assert not bool(table.loc[runner_up, "tied_with_next"])
    assert pd.isna(table.loc[slow.id, "vs_next"])  # nothing ranked below it
    # Six rounds: [min, max] of the rounds, with its exact 96.9% confidence.
    assert table.loc[leader, "ci_level"] == pytest.approx(0.96875)
