"""Static files behind nginx, for real: nginx sends /static/ itself with proxy = "nginx"
and passes it to the app with "nginx-app-static"; the same bytes either way, the contract
holds through both, and a tiny run of the static mix is verified and error-free."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import httpx
import pytest

from harness.plan.scenario import parse_scenario
from harness.plan.stacks import parse_stack_id
from harness.run import runner
from harness.run.services.nginx import STATIC_HEADER
from harness.run.verify import DEFAULT_CPUS, _available_cpus, _start_stack, _temporary_session
from tests.conftest import need
from tests.harness.run.services_helpers import leftovers

REPO_ROOT = Path(__file__).resolve().parents[3]
STATIC_DIR = REPO_ROOT / "apps" / "static"
SIZES = {f"/static/{p.name}": p.stat().st_size for p in STATIC_DIR.iterdir()}

pytestmark = [pytest.mark.slow, pytest.mark.cpus]


def test_nginx_sends_static_itself_or_passes_it_to_the_app() -> None:
    need("nginx")
    cpus = _available_cpus(DEFAULT_CPUS)
    cases = (("flask@gunicorn-gthread-w1t2+nginx", "nginx"),
             ("flask@gunicorn-gthread-w1t2+nginx-app-static", None))  # fmt: skip
    with _temporary_session("static", cpus) as session:
        for stack_id, served_by in cases:
            front = _start_stack(session, parse_stack_id(stack_id), cpus)
            try:
                with httpx.Client(base_url=front.running.url, timeout=10) as client:
                    for path, size in SIZES.items():
                        r = client.get(path)
                        assert r.status_code == 200 and len(r.content) == size, path
                        assert r.content == (STATIC_DIR / path.rsplit("/", 1)[1]).read_bytes()
                        assert r.headers.get(STATIC_HEADER) == served_by, (stack_id, r.headers)
                    # Not a file: the app's JSON 404, also where nginx serves /static/.
                    missing = client.get("/static/nope.css")
                    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
                    assert STATIC_HEADER not in missing.headers
                    refused = client.post("/static/site.css")
                    assert refused.status_code == 405 and refused.json()["error"]
            finally:
                session.procs.stop(front.running.proc)
                front.stop_proxy(session.procs)


def test_full_contract_holds_with_static_from_nginx() -> None:
    need("nginx")
    from harness.run.verify import verify_stacks

    stack = parse_stack_id("fastapi-async@uvicorn-w1+nginx")
    (verdict,) = verify_stacks([stack], out=lambda _: None)
    assert verdict.ok, verdict.errors


def test_tiny_static_run_behind_nginx(tmp_path: Path) -> None:
    need("nginx")
    data = {
        "name": "static",
        "load": {"warmup_s": 0.5, "measure_s": 1, "users": [4], "spawn_margin_s": 8},
        "stacks": [
            {
                "apps": ["flask"],
                "servers": ["gunicorn-gthread"],
                "proxy": "nginx",
                "db_pool_size": 3,
            }
        ],
        "mixes": {"static": {"static": 1}},
    }
    scn = parse_scenario(data, "test", REPO_ROOT / "test.toml")
    run_dir = runner.run_scenario(scn, tmp_path, out=lambda _: None)
    (cell_dir,) = [p for p in (run_dir / "raw").iterdir() if "__cold__" not in p.name]
    info = json.loads((cell_dir / "cell.json").read_text())
    # The quick contract checks (static_files among them) passed before the load.
    assert info["status"] == "ok", info.get("error")
    assert info["stack"]["static_from"] == "nginx"
    # The stack's own pool size: in its id, its server's environment and cells.csv.
    assert cell_dir.name.startswith("flask@gunicorn-gthread-w1t4p3+nginx__")
    assert info["env"]["DB_POOL_SIZE"] == "3" and info["stack"]["db_pool_size"] == 3
    with (run_dir / "cells.csv").open(newline="") as f:
        (row,) = [r for r in csv.DictReader(f) if r["cold"] != "true"]
    assert row["db_pool_size"] == "3"
    stack_dir = run_dir / "stacks" / info["stack"]["id"]
    assert "location /static/" in (stack_dir / "nginx.conf").read_text()
    with gzip.open(cell_dir / "requests.csv.gz", "rt", newline="") as f:
        records = list(csv.DictReader(f))
    assert {r["name"] for r in records} == {f"GET {path}" for path in SIZES}
    for r in records:
        path = r["name"].removeprefix("GET ")
        assert (r["status"], r["ok"], int(r["bytes"])) == ("200", "1", SIZES[path]), r
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert leftovers(meta["run_id"], run_dir) == []
