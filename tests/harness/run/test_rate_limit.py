"""A rate limit at nginx (`+nginx-limit<N>`): the limit_req lines of nginx.conf, and nginx
accepting them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.core.paths import REPO_ROOT
from harness.run.services import nginx
from tests.conftest import need

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
