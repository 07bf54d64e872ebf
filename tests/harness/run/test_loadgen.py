"""harness.run.loadgen: the Locust command line and the per-request files it leaves."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.core.errors import LoadError
from harness.core.paths import REPO_ROOT
from harness.plan.scenario import load_scenario
from harness.plan.stacks import parse_stack_id
from harness.results.records import CUT_OFF_STATUS, Record, read_records, write_records_gz
from harness.run.loadgen import collect, locust_argv, locust_env, run_time_s, worker_command
from harness.run.window import measured

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
    # Locust takes whole seconds only.
    half = dataclasses.replace(load, stop_timeout_s=0.5)
    assert locust_argv(half, 7, "http://127.0.0.1:9999")[argv.index("--stop-timeout") + 1] == "1"


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


def test_cut_off_records_round_trip_and_old_files_still_read(tmp_path: Path) -> None:
    (tmp_path / "requests.11.csv").write_text(
        "1.000000,900,GET /json,200,1,10\n1.500000,2500000,GET /io/sleep,-1,0,0\n"
    )
    (tmp_path / "spawn.11.json").write_text(json.dumps({"spawn_complete_at": 0.5}))
    records = collect(tmp_path).records
    assert records[1] == Record(1.5, 2_500_000, "GET /io/sleep", CUT_OFF_STATUS, False, 0)
    assert [r.cut_off for r in records] == [False, True]
    write_records_gz(records, tmp_path / "requests.csv.gz")
    assert read_records(tmp_path / "requests.csv.gz") == records
    # A run from before cut-off records (a window of the 2026-11-21 reference run): every
    # line reads, none is cut off.
    old_records = read_records(REPO_ROOT / "tests" / "fixtures" / "requests_before_cutoff.csv.gz")
    assert old_records and not any(r.cut_off for r in old_records)


@pytest.mark.parametrize("cut_off", [0, 3])
def test_load_stopped_early_names_the_stop_timeout_when_requests_were_cut_off(
    tmp_path: Path, cut_off: int
) -> None:
    # Spawned at 100, window 101..103: the last request started at 100.5.
    load = dataclasses.replace(
        load_scenario(TINY).load, warmup_s=1, measure_s=2, stop_timeout_s=0.5
    )
    lines = ["100.000000,900,GET /json,200,1,10\n"]
    lines += ["100.500000,2900000,GET /json,-1,0,0\n"] * cut_off
    (tmp_path / "requests.11.csv").write_text("".join(lines))
    (tmp_path / "spawn.11.json").write_text(json.dumps({"spawn_complete_at": 100.0}))
    ctx = SimpleNamespace(scenario=SimpleNamespace(load=load))
    with pytest.raises(LoadError, match="before the measure window ended") as caught:
        stack = parse_stack_id("flask@gunicorn-sync-w1")
        measured(ctx, tmp_path, collect(tmp_path), [], stack)  # type: ignore[arg-type]
    if cut_off:
        assert "3 request(s) were still unanswered" in str(caught.value)
        assert "load.stop_timeout_s = 1 s" in str(caught.value)
    else:
        assert str(caught.value).endswith("raise load.spawn_margin_s")


def test_missing_or_malformed_records_raise(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="left no records"):
        collect(tmp_path)
    bad = tmp_path / "requests.1.csv"
    bad.write_text("1.0,notanint,GET /json,200,1,3\n")
    with pytest.raises(LoadError, match="malformed request record"):
        read_records(bad)


def test_argv_of_processes_binds_the_master_to_loopback() -> None:
    load = dataclasses.replace(load_scenario(TINY).load, processes=3)
    argv = locust_argv(load, 6, "http://127.0.0.1:9999", master_port=40123)
    assert argv[argv.index("--processes") + 1] == "3"
    for flag, value in [
        ("--master-bind-host", "127.0.0.1"), ("--master-bind-port", "40123"),
        ("--master-host", "127.0.0.1"), ("--master-port", "40123"),
    ]:  # fmt: skip
        assert argv[argv.index(flag) + 1] == value
    assert "--master" not in argv
    with pytest.raises(LoadError, match="needs a port"):
        locust_argv(load, 6, "http://127.0.0.1:9999")


def test_argv_of_workers_waits_for_them_and_prints_their_command() -> None:
    scenario = load_scenario(TINY)
    load = dataclasses.replace(scenario.load, load_workers=2, master_port=40124, workers_wait_s=30)
    argv = locust_argv(load, 6, "http://127.0.0.1:9999")
    assert "--master" in argv and "--processes" not in argv
    assert argv[argv.index("--expect-workers") + 1] == "2"
    assert argv[argv.index("--expect-workers-max-wait") + 1] == "30"
    assert argv[argv.index("--master-bind-port") + 1] == "40124"
    command = worker_command(load, scenario.mixes[0], 6, None)
    assert command[0] == "env"
    env = dict(arg.split("=", 1) for arg in command[1 : command.index("locust")])
    assert set(env) == {
        "PWB_MIX", "PWB_CLIENT", "PWB_REQUEST_TIMEOUT_S", "PWB_TARGET_RPS", "PWB_USERS",
    }  # fmt: skip
    assert env["PWB_USERS"] == "6"
    assert json.loads(env["PWB_MIX"])["weights"] == {"json": 3, "plaintext": 1}
    tail = command[command.index("locust") :]
    assert tail[:4] == ["locust", "-f", "scenarios/locustfiles/mix.py", "--worker"]
    assert tail[tail.index("--master-host") + 1] == "127.0.0.1"
    assert tail[tail.index("--master-port") + 1] == "40124"
    # The session's client settings reach hand-started workers too (keep-alive, TLS).
    session_env = {"PWB_KEEPALIVE": "0", "PWB_TLS_CA": "/r/tls-cert.pem", "PWB_TLS_RESUME": "1"}
    command = worker_command(load, scenario.mixes[0], 6, None, session_env)
    env = dict(arg.split("=", 1) for arg in command[1 : command.index("locust")])
    assert {k: env[k] for k in session_env} == session_env


def _master_run(tmp_path: Path, workers: dict[str, dict[str, object]], missing: list[str]) -> None:
    (tmp_path / "requests.w0.csv").write_text("1.000000,900,GET /json,200,1,10\n" * 2)
    (tmp_path / "requests.w1.csv").write_text("1.500000,700,GET /json,200,1,10\n")
    spawn = {"spawn_complete_at": 1.2, "locust_requests": 3, "locust_failures": 0,
             "workers": workers, "workers_missing": missing}  # fmt: skip
    (tmp_path / "spawn.master.json").write_text(json.dumps(spawn))


def test_collect_keeps_each_workers_count(tmp_path: Path) -> None:
    workers = {
        "w0": {"records": 2, "users": 2, "host": "a", "pid": 7, "client_id": "a_1"},
        "w1": {"records": 1, "users": 2, "host": "b", "pid": 8, "client_id": "b_1"},
    }
    _master_run(tmp_path, workers, [])
    out = collect(tmp_path)
    assert len(out.records) == 3 == out.locust_requests
    assert out.per_process["w0"]["records"] == 2 and out.per_process["w0"]["host"] == "a"
    assert out.per_process["w1"]["records"] == 1
    assert list(tmp_path.iterdir()) == []


def test_collect_refuses_a_worker_whose_records_did_not_all_arrive(tmp_path: Path) -> None:
    workers = {"w0": {"records": 5, "host": "a"}, "w1": {"records": 1, "host": "b"}}
    _master_run(tmp_path, workers, [])
    with pytest.raises(LoadError, match="worker w0 on a logged 5 requests but 2 records arrived"):
        collect(tmp_path)


def test_collect_refuses_a_run_with_a_silent_worker(tmp_path: Path) -> None:
    _master_run(tmp_path, {"w0": {"records": 2, "host": "a"}}, ["c_9"])
    with pytest.raises(LoadError, match=r"1 Locust worker\(s\) sent no records.*c_9"):
        collect(tmp_path)
