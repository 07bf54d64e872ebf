"""A rate limit at nginx (`+nginx-limit<N>`): the limit_req lines of nginx.conf, nginx
accepting them, and a real open-loop run above the limit whose 429s are counted as
rejected, apart from the errors, with the accepted requests about the limit's worth."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from harness.core.paths import REPO_ROOT
from harness.plan.stacks import parse_stack_id
from harness.results.records import REJECTED_STATUS
from harness.run.services import nginx
from harness.run.window import rejected_status
from tests.conftest import need, run_one_cell

STATIC_DIR = REPO_ROOT / "apps" / "static"


def config(work_dir: Path, limit_rps: int | None) -> str:
    return nginx.config_text(work_dir / "a.sock", 8080, "http", work_dir, client_keepalive=True,
                             static_dir=STATIC_DIR, limit_rps=limit_rps)  # fmt: skip


def test_nginx_config_limits_every_location_of_the_server(tmp_path: Path) -> None:
    text = config(tmp_path, 500)
    http, server = text[: text.index("  server {")], text[text.index("  server {") :]
    assert "  limit_req_zone global zone=pwb_limit:1m rate=500r/s;\n" in http
    before_locations = server[: server.index("location / {")]
    for line in (
        "    limit_req zone=pwb_limit burst=50 nodelay;\n",
        "    limit_req_status 429;\n",
        "    limit_req_log_level info;\n",
    ):
        assert line in before_locations, line
    # /static/ (served by nginx itself) and @app inherit the server's limit.
    assert server.count("limit_req ") == 1
    assert "limit_req" not in config(tmp_path, None)


def test_the_burst_is_a_tenth_of_a_second_of_the_rate_and_at_least_twenty() -> None:
    assert [nginx.limit_burst(n) for n in (1, 150, 200, 1000, 1001)] == [20, 20, 20, 100, 101]
    with pytest.raises(ValueError, match="got 0"):
        nginx.config_text(Path("a.sock"), 8080, "http", Path("."), client_keepalive=True,
                          limit_rps=0)  # fmt: skip


def test_nginx_accepts_the_limited_config(tmp_path: Path) -> None:
    need("nginx")
    path = tmp_path / "nginx.conf"
    path.write_text(config(tmp_path, 150))
    (tmp_path / "nginx-temp").mkdir()
    done = subprocess.run(
        ["nginx", "-t", "-e", str(tmp_path / "nginx-error.log"), "-p", str(tmp_path),
         "-c", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_only_a_limited_stack_counts_429_as_rejected() -> None:
    assert rejected_status(parse_stack_id("flask@gunicorn-sync-w1+nginx-limit5")) == 429
    assert REJECTED_STATUS == 429
    assert rejected_status(parse_stack_id("flask@gunicorn-sync-w1+nginx")) is None
    assert rejected_status(parse_stack_id("flask@gunicorn-sync-w1")) is None


LIMIT, RATE, MEASURE_S = 50, 200, 2.0
ABOVE_THE_LIMIT = f"""
name = "limit-run"
[load]
mode = "open"
rates = [{RATE}]
users = [16]
warmup_s = 0.5
measure_s = {MEASURE_S}
spawn_margin_s = 8
stop_timeout_s = 1
[cpus]
server = [1]
load = [0]
[[stacks]]
apps = ["flask"]
servers = ["gunicorn-sync"]
proxy = "nginx-limit{LIMIT}"
[mixes.json]
json = 1
"""


@pytest.mark.slow
@pytest.mark.cpus
def test_a_run_above_the_limit_counts_the_rejected_apart_from_errors(tmp_path: Path) -> None:
    need("nginx")
    cell = run_one_cell(tmp_path, ABOVE_THE_LIMIT)
    row, stack = cell.row, "flask@gunicorn-sync-w1+nginx-limit50"
    assert row["stack"] == stack and cell.info["stack"]["limit_rps"] == LIMIT
    rejected, requests = int(row["rejected"]), int(row["requests"])
    assert rejected > 0 and int(row["errors"]) == 0 and float(row["error_rate"]) == 0, row
    assert float(row["rejected_rate"]) == pytest.approx(rejected / (requests + rejected))
    # nginx lets through at most the rate over the window plus its burst (a little more for
    # the send times the window goes by); the lower bound only asks that the load offered
    # the limit's worth, four times over.
    most = LIMIT * (MEASURE_S + 0.1) + nginx.limit_burst(LIMIT) + 1
    assert 0.5 * LIMIT * MEASURE_S <= requests <= most, row
    assert float(row["rps"]) == pytest.approx(requests / MEASURE_S)
    # The records keep what the load saw: 429, failed, for every rejected request.
    statuses = [r["status"] for r in cell.records()]
    assert statuses.count(str(REJECTED_STATUS)) >= rejected
    assert {r["ok"] for r in cell.records() if r["status"] == "429"} == {"0"}
    nginx_conf = (cell.run_dir / "stacks" / stack / "nginx.conf").read_text()
    assert "limit_req zone=pwb_limit burst=20 nodelay;" in nginx_conf
    with (cell.run_dir / "aggregates.csv").open(newline="") as f:
        (level,) = list(csv.DictReader(f))
    assert int(level["rejected"]) == rejected
    assert f"rejected {rejected} (rate limit)" in cell.stdout
