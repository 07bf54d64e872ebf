"""The services' pure parts: scenario keys, URL redaction, preflight, nginx and pgbouncer
configs, stack ids with a proxy, and the reproduction table's rank correlation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.core.errors import ScenarioError, StackError
from harness.plan.scenario import load_scenario, parse_scenario
from harness.plan.services import redact_url
from harness.plan.stacks import parse_stack_id
from harness.report import reproduction
from harness.run import runner
from harness.run.services import binaries, nginx, pgbouncer
from harness.run.services.binaries import PreflightError
from harness.run.services.preflight import needed, preflight

REPO_ROOT = Path(__file__).resolve().parents[3]


def data(**extra: Any) -> dict[str, Any]:
    return {
        "name": "svc",
        "load": {"warmup_s": 0, "measure_s": 1, "users": [1]},
        "stacks": [{"apps": ["flask"], "servers": ["uwsgi"], "proxy": "nginx"}],
        "mixes": {"db": {"db": 1}},
        **extra,
    }


def test_services_keys_parse_and_default_to_sqlite() -> None:
    plain = parse_scenario(data(), "t", REPO_ROOT / "t.toml")
    assert plain.services.db == "sqlite" and not plain.services.pgbouncer
    assert [s.id for s in plain.stacks] == ["flask@uwsgi-w1t1+nginx"]
    pg = parse_scenario(
        data(db="postgres", pgbouncer=True, db_pool_size=3, proxy_client_keepalive=False),
        "t",
        REPO_ROOT / "t.toml",
    )
    assert pg.services.db_pool_size == 3 and not pg.services.proxy_client_keepalive


def test_bad_services_keys_are_all_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    bad = data(db="mysql", pgbouncer="yes", db_pool_size=0, pgbouncer_pool_mode="statement")
    bad["stacks"][0]["proxy"] = "apache"
    with pytest.raises(ScenarioError) as err:
        parse_scenario(bad, "t", REPO_ROOT / "t.toml")
    text = str(err.value)
    for key in ("db:", "pgbouncer:", "db_pool_size:", "pgbouncer_pool_mode:", "stacks[0].proxy:"):
        assert key in text, text
    with pytest.raises(ScenarioError, match="needs db_url or the environment variable"):
        parse_scenario(data(db="url"), "t", REPO_ROOT / "t.toml")


def test_users_url_is_used_and_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://me:s3cret@db.example:5433/x")
    scn = parse_scenario(data(db="url"), "t", REPO_ROOT / "t.toml")
    assert scn.services.db_url == "postgresql://me:s3cret@db.example:5433/x"
    assert scn.services.describe()["db_url"] == "postgresql://me:***@db.example:5433/x"
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_stack_ids_with_a_proxy() -> None:
    stack = parse_stack_id("flask@gunicorn-sync-w2+nginx")
    assert stack.id == "flask@gunicorn-sync-w2+nginx" and stack.proxy == "nginx"
    argv = stack.argv("127.0.0.1", 1, socket="/tmp/s/app.sock")
    assert "unix:/tmp/s/app.sock" in argv and "127.0.0.1:1" not in argv
    with pytest.raises(StackError, match="no uds_argv"):
        parse_stack_id("raw-wsgi@wsgiref+nginx")
    with pytest.raises(StackError, match="unknown proxy"):
        parse_stack_id("flask@uwsgi+apache")


def test_nginx_config_uwsgi_protocol_and_no_client_keepalive(tmp_path: Path) -> None:
    conf = nginx.config_text(tmp_path / "a.sock", 8080, "uwsgi", tmp_path, client_keepalive=False)
    assert "uwsgi_pass app;" in conf and "keepalive_timeout 0;" in conf
    assert f"server unix:{tmp_path / 'a.sock'};" in conf and "listen 127.0.0.1:8080" in conf
    assert "access_log off;" in conf and str(tmp_path / "nginx.pid") in conf
    http = nginx.config_text(tmp_path / "a.sock", 8080, "http", tmp_path, client_keepalive=True)
    assert "proxy_pass http://app;" in http and "keepalive 64;" in http


def test_nginx_config_serves_static_only_when_asked(tmp_path: Path) -> None:
    static_dir = REPO_ROOT / "apps" / "static"
    for protocol, upstream in (("http", "proxy_pass http://app;"), ("uwsgi", "uwsgi_pass app;")):
        conf = nginx.config_text(tmp_path / "a.sock", 8080, protocol, tmp_path,
                                 client_keepalive=True, static_dir=static_dir)  # fmt: skip
        static = conf[conf.index("location /static/ {") : conf.index("location @app {")]
        assert f"root {static_dir.parent};" in static and "try_files $uri @app;" in static
        assert "error_page 405 = @app;" in static and "sendfile on;" in static
        assert "text/javascript js;" in static
        assert "charset_types text/css text/javascript;" in static
        assert f"add_header {nginx.STATIC_HEADER} nginx;" in static
        # Unknown names and refused methods reach the app through @app, same protocol.
        assert upstream in conf[conf.index("location @app {") :]
    plain = nginx.config_text(tmp_path / "a.sock", 8080, "http", tmp_path, client_keepalive=True)
    assert "/static/" not in plain and "charset" not in plain
    with pytest.raises(ValueError, match="named static"):
        nginx.config_text(tmp_path / "a.sock", 8080, "http", tmp_path, client_keepalive=True,
                          static_dir=tmp_path)  # fmt: skip


def test_proxy_axis_with_static_from_nginx_or_the_app() -> None:
    sel = {"apps": ["flask"], "servers": ["gunicorn-gthread"],
           "proxy": ["none", "nginx-app-static", "nginx"]}  # fmt: skip
    scn = parse_scenario(data(stacks=[sel]), "t", REPO_ROOT / "t.toml")
    assert [(s.id, s.proxy_serves_static) for s in scn.stacks] == [
        ("flask@gunicorn-gthread-w1t4", False),
        ("flask@gunicorn-gthread-w1t4+nginx-app-static", False),
        ("flask@gunicorn-gthread-w1t4+nginx", True),
    ]
    assert needed(scn) == {'proxy = "nginx"': ["nginx"]}
    stack = parse_stack_id("flask@gunicorn-gthread-w1t4+nginx-app-static")
    assert stack.proxy == "nginx-app-static" and stack.describe()["static_from"] == "app"
    assert parse_stack_id("flask@uwsgi+nginx").describe()["static_from"] == "nginx"
    assert load_scenario(REPO_ROOT / "scenarios" / "static.toml").mixes[0].weights == (
        ("static", 1),
    )


def test_preflight_names_the_missing_binary_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(binaries, "find", lambda name: None if name == "nginx" else "/bin/true")
    scn = parse_scenario(data(), "t", REPO_ROOT / "t.toml")
    with pytest.raises(PreflightError, match=r"needs nginx.*make system-deps"):
        preflight(scn)
    with pytest.raises(PreflightError):
        runner.run_scenario(scn, tmp_path, out=lambda _: None)
    assert list(tmp_path.iterdir()) == []  # not even a run directory


def test_pgbouncer_transaction_mode_needs_1_21(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgbouncer, "version", lambda binary: (1, 18))
    assert pgbouncer.check_mode("pgbouncer", "session") == (1, 18)
    with pytest.raises(pgbouncer.PgbouncerError, match=r">= 1\.21"):
        pgbouncer.check_mode("pgbouncer", "transaction")


def test_spearman_and_ranks() -> None:
    assert reproduction.ranks([10.0, 30.0, 20.0, 20.0]) == [1.0, 4.0, 2.5, 2.5]
    assert reproduction.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert reproduction.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert reproduction.spearman([1, 2], [1, 2]) is None


def test_reproduction_table_beside_the_published_one() -> None:
    rows = [
        ("flask", "uwsgi", 4, 900.0, 20.0, 30.0),
        ("flask", "gunicorn-sync", 3, 800.0, 25.0, 40.0),
        ("flask", "gunicorn-gevent", 3, 700.0, 22.0, 120.0),
        ("fastapi-async", "uvicorn", 1, 1000.0, 15.0, 70.0),
    ]
    cells = pd.DataFrame(
        [
            {
                "app": a,
                "server": s,
                "stack": f"{a}@{s}-w{w}+nginx",
                "workers": w,
                "users": 100,
                "status": "ok",
                "rps": rps,
                "p50_ms": p50,
                "p99_ms": p99,
            }
            for a, s, w, rps, p50, p99 in rows
        ]
    )
    anchor = reproduction.ANCHORS["paterson2020"]
    table = reproduction.comparison(cells, anchor)
    assert len(table) == 4
    uwsgi = table[table["stack"] == "flask@uwsgi-w4+nginx"].iloc[0]
    assert (uwsgi["their_throughput"], uwsgi["their_p50_ms"], uwsgi["their_p99_ms"]) == (
        4431,
        22,
        33,
    )
    # Same order as the published rps (Uvicorn > uWSGI > Gunicorn > gevent): rho = 1.
    assert reproduction.correlations(table)["throughput"] == pytest.approx(1.0)
    html = reproduction.section_html(cells, "paterson2020")
    assert "Spearman" in html and "Gunicorn+gevent + Flask" in html
    assert reproduction.section_html(cells, "quick") == ""


def test_the_default_path_needs_no_system_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binaries, "find", lambda name: None)
    for name in ("quick.toml", "default.toml"):
        scn = load_scenario(REPO_ROOT / "scenarios" / name)
        assert scn.services.db == "sqlite" and needed(scn) == {}
        preflight(scn)  # nothing missing


def test_client_keepalive_behind_nginx_is_nginxs() -> None:
    from harness.plan.services import ServicesSpec, client_keepalive

    proxied = parse_stack_id("flask@gunicorn-sync-w1+nginx")
    assert client_keepalive(proxied, ServicesSpec(proxy_client_keepalive=True))
    assert not client_keepalive(parse_stack_id("flask@gunicorn-sync-w1"), ServicesSpec())
    uvicorn = parse_stack_id("fastapi-async@uvicorn+nginx")
    assert not client_keepalive(uvicorn, ServicesSpec(proxy_client_keepalive=False))
