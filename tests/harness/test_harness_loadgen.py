"""harness.loadgen: the Locust command line and the per-request files it leaves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import LoadError
from harness.loadgen import (
    Record,
    collect,
    locust_argv,
    locust_env,
    read_records,
    run_time_s,
    write_records_gz,
)
from harness.registry import REPO_ROOT
from harness.scenario import load_scenario

TINY = REPO_ROOT / "tests" / "fixtures" / "tiny.toml"


def test_argv_is_headless_closed_loop_and_bounded() -> None:
    load = load_scenario(TINY).load
    argv = locust_argv(load, 7, "http://127.0.0.1:9999")
    assert "--headless" in argv
    assert argv[argv.index("--users") + 1] == "7"
    assert argv[argv.index("--spawn-rate") + 1] == "7"
    assert argv[argv.index("--host") + 1] == "http://127.0.0.1:9999"
    assert argv[argv.index("--run-time") + 1] == f"{run_time_s(load)}s"
    assert run_time_s(load) >= load.warmup_s + load.measure_s
    assert argv[argv.index("-f") + 1].endswith("scenarios/locustfiles/mix.py")


def test_env_carries_the_mix_and_the_stop_time(tmp_path: Path) -> None:
    scenario = load_scenario(TINY)
    env = locust_env(scenario.load, scenario.mixes[0], tmp_path)
    assert json.loads(env["PWB_MIX"])["weights"] == {"json": 3, "plaintext": 1}
    assert env["PWB_OUTPUT_DIR"] == str(tmp_path)
    assert float(env["PWB_STOP_AFTER_S"]) > scenario.load.warmup_s + scenario.load.measure_s


def test_collect_merges_processes_sorts_and_round_trips(tmp_path: Path) -> None:
    (tmp_path / "requests.11.csv").write_text(
        "2.000000,1500,GET /items/{id},200,1,40\n1.000000,900,GET /json,0,0,0\n"
    )
    (tmp_path / "requests.12.csv").write_text("1.500000,700,POST /items,201,1,60\n")
    (tmp_path / "spawn.11.json").write_text(
        json.dumps({"spawn_complete_at": 1.2, "locust_requests": 2, "locust_failures": 1})
    )
    (tmp_path / "spawn.12.json").write_text(json.dumps({"spawn_complete_at": 1.4}))
    out = collect(tmp_path)
    assert [r.t_start for r in out.records] == [1.0, 1.5, 2.0]
    assert out.records[0] == Record(1.0, 900, "GET /json", 0, False, 0)
    assert out.spawn_complete_at == 1.4
    assert out.locust_requests == 2
    assert list(tmp_path.iterdir()) == []
    write_records_gz(out.records, tmp_path / "requests.csv.gz")
    assert read_records(tmp_path / "requests.csv.gz") == out.records


def test_missing_or_malformed_records_raise(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="left no records"):
        collect(tmp_path)
    bad = tmp_path / "requests.1.csv"
    bad.write_text("1.0,notanint,GET /json,200,1,3\n")
    with pytest.raises(LoadError, match="malformed request record"):
        read_records(bad)
