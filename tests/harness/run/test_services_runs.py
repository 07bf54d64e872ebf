"""Real runs with the services: PostgreSQL (behind pgbouncer) and nginx are started by the
run and gone after it (processes and the cluster's files): after a clean run, after a cell
whose server fails to start, after an error that ends the run, and after Ctrl-C."""

from __future__ import annotations

import csv
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from harness.plan.scenario import Scenario, parse_scenario
from harness.plan.stacks import Stack
from harness.run import runner
from tests.conftest import need
from tests.harness.run.services_helpers import leftovers, service_names

REPO_ROOT = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.slow, pytest.mark.cpus]


def scenario_data(measure_s: float = 1, **extra: Any) -> dict[str, Any]:
    return {
        "name": "services",
        "db": "postgres",
        "pgbouncer": True,
        "db_pool_size": 2,
        "load": {"warmup_s": 0.5, "measure_s": measure_s, "users": [4], "spawn_margin_s": 8},
        "stacks": [{"apps": ["fastapi-async"], "servers": ["uvicorn"], "proxy": ["none", "nginx"]}],
        "mixes": {"db": {"db": 1}},
        **extra,
    }


def scenario(**extra: Any) -> Scenario:
    return parse_scenario(scenario_data(**extra), "test", REPO_ROOT / "test.toml")


def only_run(results: Path) -> Path:
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def assert_all_gone(run_dir: Path) -> None:
    """No process of the run alive, the cluster's directory removed."""
    meta = json.loads((run_dir / "metadata.json").read_text())
    cluster_dir = Path(meta["services"]["database"]["cluster_dir"])
    assert not cluster_dir.exists()
    assert not (run_dir / "postgres").exists()
    assert leftovers(meta["run_id"], run_dir, cluster_dir) == []


def test_run_on_postgres_through_nginx_leaves_nothing(tmp_path: Path) -> None:
    need("initdb", "postgres", "pgbouncer", "nginx")
    run_dir = runner.run_scenario(scenario(), tmp_path, out=lambda _: None)
    rows = (run_dir / "cells.csv").read_text()
    assert "fastapi-async@uvicorn-w1__db" in rows and "fastapi-async@uvicorn-w1+nginx__db" in rows
    for cell_dir in (run_dir / "raw").iterdir():
        info = json.loads((cell_dir / "cell.json").read_text())
        assert info["status"] == "ok", info.get("error")
        url = info["env"]["DATABASE_URL"]
        assert url.startswith("postgresql://bench:***@127.0.0.1:"), url
        assert info["env"]["DB_POOL_SIZE"] == "2"
    nginx_cell = run_dir / "raw" / "fastapi-async@uvicorn-w1+nginx__db__u4__r1"
    # nginx stays up with its stack for the whole run: its config is the stack's.
    assert (
        "uwsgi_pass"
        not in (run_dir / "stacks" / "fastapi-async@uvicorn-w1+nginx" / "nginx.conf").read_text()
    )
    # The monitor sampled nginx (only where it ran), pgbouncer and PostgreSQL.
    with (run_dir / "cells.csv").open(newline="") as f:
        by_stack = {row["stack"]: row for row in csv.DictReader(f)}
    for stack_id, row in by_stack.items():
        assert row["db_pool_size"] == "2"  # the scenario-wide value
        for role in ("db", "pgbouncer", "nginx"):
            cpu, rss = row[f"{role}_cpu_pct"], row[f"{role}_rss_mb"]
            if role == "nginx" and not stack_id.endswith("+nginx"):
                assert (cpu, rss) == ("", ""), (stack_id, role)
            else:
                assert float(cpu) >= 0 and float(rss) > 0, (stack_id, role, cpu, rss)
    with (nginx_cell / "monitor.csv").open(newline="") as f:
        samples = list(csv.DictReader(f))
    assert any(float(s["nginx_cpu_pct"]) > 0 for s in samples[2:])
    meta = json.loads((run_dir / "metadata.json").read_text())
    database = meta["services"]["database"]
    assert database["kind"] == "postgres" and database["pgbouncer"]["pool_mode"] == "session"
    # No file of the run holds a database URL with its password.
    with_password = re.compile(r"postgresql://bench:(?!\*\*\*@)")
    files = [p for p in run_dir.rglob("*") if p.is_file() and p.suffix != ".gz"]
    assert not [p for p in files if with_password.search(p.read_text(errors="ignore"))]
    assert_all_gone(run_dir)


def test_server_that_fails_to_start_fails_its_cell_and_services_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("initdb", "postgres", "pgbouncer", "nginx")
    # The server exits at once: the cell fails, the run goes on and ends normally.
    monkeypatch.setattr(Stack, "argv", lambda self, *args, **kwargs: ["false"])
    data = scenario_data()
    data["load"]["startup_timeout_s"] = 5
    run_dir = runner.run_scenario(
        parse_scenario(data, "test", REPO_ROOT / "t.toml"), tmp_path, out=lambda _: None
    )
    for cell_dir in (run_dir / "raw").iterdir():
        assert json.loads((cell_dir / "cell.json").read_text())["status"] == "failed"
    assert_all_gone(run_dir)


def test_error_that_ends_the_run_stops_and_removes_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("initdb", "postgres", "pgbouncer")

    def broken(rounds: Any, ctx: Any, *_: Any) -> None:
        assert Path(ctx.session.database["cluster_dir"], "data").is_dir()  # the cluster is up
        assert {"postgres", "pgbouncer"} <= service_names(ctx.run_id, ctx.run_dir)
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "run_rounds", broken)
    with pytest.raises(RuntimeError, match="boom"):
        runner.run_scenario(scenario(), tmp_path, out=lambda _: None)
    assert_all_gone(only_run(tmp_path))


def test_ctrl_c_stops_postgres_pgbouncer_and_nginx(tmp_path: Path) -> None:
    need("initdb", "postgres", "pgbouncer", "nginx")
    scn = tmp_path / "long.toml"
    scn.write_text(
        'name = "long"\ndb = "postgres"\npgbouncer = true\n'
        "[load]\nwarmup_s = 0\nmeasure_s = 60\nusers = [2]\n"
        '[[stacks]]\napps = ["fastapi-async"]\nservers = ["uvicorn"]\nproxy = "nginx"\n'
        "[mixes.db]\ndb = 1\n"
    )
    results = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(scn), "--results-dir", str(results)],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # Wait until the first window has started (its specification is written after the
        # stacks started and passed their checks).
        while time.monotonic() < deadline:
            if list(results.glob("*/rounds/r0/window-1.json")):
                time.sleep(1)
                break
            time.sleep(0.2)
        else:
            pytest.fail("the cell never started its load")
        run_dir = only_run(results)
        running = service_names(run_dir.name, run_dir)
        assert {"postgres", "pgbouncer", "nginx"} <= running, running
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:  # a failed assertion above: let the harness clean up
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert_all_gone(run_dir)


def test_postgres_starts_in_a_run_directory_too_deep_for_a_unix_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Claims nest each claim's run under the claims directory: the cluster's own socket
    # path would pass the kernel's 107-byte limit there, so it lives under /tmp instead.
    need("initdb", "postgres", "pgbouncer")
    # The cluster goes into the run directory when the postgres account can reach it
    # (pytest's own temporary folders are private: elsewhere it would go under /tmp).
    base = Path(tempfile.mkdtemp(prefix="pwb-deep-"))
    base.chmod(0o755)
    deep = base / ("d" * 60) / ("e" * 60)
    sockets_before = set(Path("/tmp").glob("pwb-pg-*"))

    def check(rounds: Any, ctx: Any, *_: Any) -> None:
        assert Path(ctx.session.database["cluster_dir"], "data").is_dir()
        assert str(ctx.session.database["cluster_dir"]).startswith(str(deep))
        raise RuntimeError("cluster is up")

    monkeypatch.setattr(runner, "run_rounds", check)
    try:
        with pytest.raises(RuntimeError, match="cluster is up"):
            runner.run_scenario(scenario(), deep, out=lambda _: None)
        assert_all_gone(only_run(deep))
        assert set(Path("/tmp").glob("pwb-pg-*")) == sockets_before
    finally:
        shutil.rmtree(base, ignore_errors=True)
