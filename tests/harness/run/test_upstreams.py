"""What stands behind nginx, for real: the server over a TCP port beside the Unix socket,
uWSGI speaking HTTP instead of its uwsgi protocol, and several instances of a server
balanced round-robin or least_conn, each answering the full contract; instances that all
take load, that share the stack's process tree and die with it."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import httpx
import psutil
import pytest

from harness.core.errors import ScenarioError, StackError
from harness.plan.scenario import load_scenario
from harness.plan.stacks import parse_proxy, parse_stack_id
from harness.run.services import nginx
from harness.run.verify import (
    DEFAULT_CPUS,
    _available_cpus,
    _start_stack,
    _temporary_session,
    verify_stacks,
)
from tests.conftest import need, run_harness

UPSTREAMS = [
    "flask@gunicorn-sync-w1+nginx-tcp",
    "flask@uwsgi-w1t2+nginx-http",
    "flask@uwsgi-w1t2+nginx-tcp-http",
    "fastapi-async@uvicorn-w1x2+nginx-lc",
    "django-wsgi@gunicorn-gthread-w1t2x2+nginx-tcp",
]


def test_proxy_options_round_trip_through_the_stack_id() -> None:
    stack = parse_stack_id("flask@gunicorn-sync-w1x3+nginx-tcp-lc-limit500+tls")
    assert stack.id == "flask@gunicorn-sync-w1x3+nginx-tcp-lc-limit500+tls"
    assert (stack.instances, stack.limit_rps, stack.upstream_protocol) == (3, 500, "http")
    described = stack.describe()
    assert described["upstream"] == "tcp" and described["balance"] == "least-conn"
    assert described["tls"] == "nginx" and described["proxy"] == "nginx-tcp-lc-limit500"
    uwsgi = parse_stack_id("flask@uwsgi-w2t4+nginx")
    assert (uwsgi.upstream_protocol, uwsgi.describe()["upstream"]) == ("uwsgi", "unix")
    http = parse_stack_id("flask@uwsgi-w2t4+nginx-http")
    assert http.upstream_protocol == "http"
    argv = http.argv("127.0.0.1", 1, socket="/tmp/s.sock")
    assert argv[argv.index("--http-socket") + 1] == "/tmp/s.sock"
    assert "--socket" not in argv
    assert parse_stack_id("flask@gunicorn-sync-w2+nginx").proxy_serves_static
    assert not parse_stack_id("flask@gunicorn-sync-w2+nginx-app-static-tcp").proxy_serves_static
    assert parse_proxy("nginx-lc-tcp") is None  # options in their order only


@pytest.mark.parametrize(
    ("stack_id", "reason"),
    [
        ("flask@gunicorn-sync-w1x2", "need a proxy in front"),
        ("flask@gunicorn-sync-w1+nginx-lc", "needs x<instances> of 2 or more"),
        ("flask@uwsgi-w1+nginx-tcp", "add -http"),
        ("flask@gunicorn-sync-w1+nginx-http", "speaks HTTP to nginx already"),
        ("flask@gunicorn-sync-w1+nginx-fast", "unknown proxy 'nginx-fast'"),
        ("flask@gunicorn-sync-w1+nginx-limit0", "expected a rate >= 1"),
        ("flask@gunicorn-sync-w1x0+nginx", "instances must be >= 1"),
    ],
)
def test_impossible_upstreams_say_why(stack_id: str, reason: str) -> None:
    with pytest.raises(StackError, match=reason):
        parse_stack_id(stack_id)


HEAD = 'name = "s"\n[load]\nwarmup_s = 0.5\nmeasure_s = 1\nusers = [4]\n'


def test_a_selector_takes_instances_and_proxy_options(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        HEAD + '[[stacks]]\napps = ["flask"]\nservers = ["gunicorn-sync"]\n'
        'proxy = ["nginx", "nginx-lc"]\ninstances = [1, 2]\nskip_invalid = true\n'
        "[mixes.json]\njson = 1\n"
    )
    ids = [s.id for s in load_scenario(path).stacks]
    assert ids == [
        "flask@gunicorn-sync-w1+nginx", "flask@gunicorn-sync-w1x2+nginx",
        "flask@gunicorn-sync-w1x2+nginx-lc",
    ]  # fmt: skip
    path.write_text(
        HEAD + '[[stacks]]\napps = ["flask"]\nservers = ["gunicorn-sync"]\nproxy = "nginx-quick"\n'
        "[mixes.json]\njson = 1\n"
    )
    with pytest.raises(ScenarioError, match=r"stacks\[0\]\.proxy.*nginx-quick"):
        load_scenario(path)
    path.write_text(
        HEAD + '[[stacks]]\napps = ["flask"]\nservers = ["gunicorn-sync"]\ninstances = [0]\n'
        "[mixes.json]\njson = 1\n"
    )
    with pytest.raises(ScenarioError, match=r"stacks\[0\]\.instances"):
        load_scenario(path)


def test_the_upstream_lists_every_instance_and_the_balancing(tmp_path: Path) -> None:
    conf = nginx.config_text(
        ["127.0.1.5:4001", "127.0.1.5:4002"], 8080, "http", tmp_path,
        client_keepalive=True, balance="least-conn",
    )  # fmt: skip
    upstream = conf[conf.index("upstream app {") : conf.index("}", conf.index("upstream app {"))]
    assert upstream.split("\n")[1:4] == [
        "    least_conn;", "    server 127.0.1.5:4001;", "    server 127.0.1.5:4002;",
    ]  # fmt: skip
    single = nginx.config_text(tmp_path / "a.sock", 8080, "http", tmp_path, client_keepalive=True)
    assert f"server unix:{tmp_path / 'a.sock'};" in single and "least_conn" not in single


@pytest.mark.slow
def test_every_upstream_kind_answers_the_whole_contract() -> None:
    need("nginx")
    verdicts = verify_stacks([parse_stack_id(s) for s in UPSTREAMS], out=print)
    assert [(v.stack_id, v.errors) for v in verdicts if not v.ok] == []
    assert len(verdicts) == len(UPSTREAMS)


def _masters(root: psutil.Process) -> list[psutil.Process]:
    """The gunicorn masters under the instances' shell."""
    return [c for c in root.children() if "gunicorn" in " ".join(c.cmdline())]


def _tree_cpu(proc: psutil.Process) -> float:
    times = [proc.cpu_times(), *(c.cpu_times() for c in proc.children(recursive=True))]
    return sum(t.user + t.system for t in times)


@pytest.mark.slow
@pytest.mark.parametrize("proxy", ["nginx", "nginx-tcp-lc"])
def test_every_instance_takes_load_and_one_dying_stops_the_stack(proxy: str) -> None:
    need("nginx")
    stack = parse_stack_id(f"flask@gunicorn-sync-w1x2+{proxy}")
    cpus = _available_cpus(DEFAULT_CPUS)
    with _temporary_session("upstreams", cpus) as session:
        front = _start_stack(session, stack, cpus)
        try:
            assert len(front.upstreams) == 2
            root = psutil.Process(front.running.proc.pid)
            masters = _masters(root)
            assert len(masters) == 2, [m.cmdline() for m in root.children()]
            before = [_tree_cpu(m) for m in masters]
            with httpx.Client(base_url=front.running.url, timeout=10) as client:
                for _ in range(400):
                    assert client.get("/json").status_code == 200
            after = [_tree_cpu(m) for m in masters]
            assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
            # One instance dies: the shell holding them exits, as a dead server would.
            masters[0].kill()
            deadline = time.monotonic() + 20
            while front.running.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert front.running.proc.poll() is not None
        finally:
            session.procs.stop(front.running.proc)
            front.stop_proxy(session.procs)
        assert not masters[1].is_running() or masters[1].status() == psutil.STATUS_ZOMBIE


RUN = """
name = "upstreams"
[load]
warmup_s = 0.5
measure_s = 1.5
users = [4]
rounds = 1
spawn_margin_s = 8
stop_timeout_s = 1
[cpus]
server = [1]
load = [0]
[[stacks]]
apps = ["flask"]
servers = ["gunicorn-sync"]
proxy = "nginx-tcp-lc"
instances = [2]
[[stacks]]
apps = ["flask"]
servers = ["uwsgi"]
proxy = ["nginx", "nginx-http"]
[mixes.json]
json = 1
"""


@pytest.mark.slow
@pytest.mark.cpus
def test_a_run_records_the_upstream_of_every_stack(tmp_path: Path) -> None:
    need("nginx")
    scenario = tmp_path / "s.toml"
    scenario.write_text(RUN)
    results = tmp_path / "results"
    done = run_harness("run", str(scenario), "--results-dir", str(results), timeout=240)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    with (run_dir / "cells.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["cold"] != "true"]
    seen = {}
    for row in rows:
        assert row["status"] == "ok" and int(row["requests"]) > 0, row
        assert float(row["error_rate"]) == 0, row
        assert float(row["server_cpu_pct"]) > 0, row
        info = json.loads((run_dir / "raw" / row["cell"] / "cell.json").read_text())
        described = info["stack"]
        seen[row["stack"]] = (described["instances"], described["upstream"],
                              described["upstream_protocol"], described["balance"])  # fmt: skip
    assert seen == {
        "flask@gunicorn-sync-w1x2+nginx-tcp-lc": (2, "tcp", "http", "least-conn"),
        "flask@uwsgi-w1t1+nginx": (1, "unix", "uwsgi", "round-robin"),
        "flask@uwsgi-w1t1+nginx-http": (1, "unix", "http", "round-robin"),
    }
