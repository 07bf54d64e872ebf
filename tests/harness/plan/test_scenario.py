"""harness.plan.scenario: validation names file, key path and problem; planning; shipped files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.errors import ScenarioError
from harness.core.paths import REPO_ROOT
from harness.plan.cells import plan_cells
from harness.plan.scenario import LOAD_DEFAULTS, LOAD_KEYS, load_scenario
from harness.plan.stacks import parse_stack_id
from tests.conftest import readme_keys

VALID = """
name = "t"
[load]
warmup_s = 1
measure_s = 2
users = [2, 4]
rounds = 2
[[stacks]]
apps = ["flask"]
servers = ["gunicorn-sync", "gunicorn-gthread"]
workers = [1, 2]
threads = [2]
[[stacks]]
apps = ["fastapi-async"]
servers = ["uvicorn"]
[mixes.json]
json = 3
plaintext = 1
[mixes.io]
sleep = 1
upstream = 1
[mixes.io.params]
sleep_ms = 5
upstream_ms = 5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def problems_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as excinfo:
        load_scenario(path)
    return str(excinfo.value)


def test_valid_scenario_plans_every_cell(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID))
    ids = [s.id for s in scenario.stacks]
    # gunicorn-sync has no threads: the thread list applies to gthread only.
    assert ids == [
        "flask@gunicorn-sync-w1", "flask@gunicorn-sync-w2",
        "flask@gunicorn-gthread-w1t2", "flask@gunicorn-gthread-w2t2",
        "fastapi-async@uvicorn-w1",
    ]  # fmt: skip
    cells = plan_cells(scenario)
    assert len(cells) == 5 * 2 * 2 * 2
    assert len({c.id for c in cells}) == len(cells)
    assert cells[0].id == "flask@gunicorn-sync-w1__json__u2__r1"
    assert scenario.needs_upstream
    assert dict(scenario.mixes[1].params) == {"sleep_ms": 5, "upstream_ms": 5}
    assert scenario.cpus.server == (1,) and scenario.cpus.load == (0,)


def test_unknown_server_names_file_key_and_choices(tmp_path: Path) -> None:
    text = VALID.replace('servers = ["uvicorn"]', 'servers = ["gunicron"]')
    message = problems_of(tmp_path, text)
    assert (
        f"{tmp_path / 's.toml'}: stacks[1].servers: unknown server 'gunicron' (known: " in message
    )
    assert "gunicorn-sync" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        VALID.replace("measure_s = 2", "measure_s = -1")
        .replace("json = 3", "jsn = 3")
        .replace("sleep_ms = 5", "sleep_ms = 99999")
    )
    lines = problems_of(tmp_path, text).splitlines()
    assert any(": load.measure_s: expected a number >= 0.5, got -1" in line for line in lines)
    assert any(": mixes.json.jsn: unknown task kind" in line for line in lines)
    assert any(": mixes.io.params.sleep_ms: expected an int in 0..10000" in line for line in lines)


def test_invalid_combination_is_an_error_unless_skipped(tmp_path: Path) -> None:
    text = VALID.replace('apps = ["fastapi-async"]', 'apps = ["fastapi-async", "flask"]')
    message = problems_of(tmp_path, text)
    assert "stacks[1]: flask is a WSGI app and uvicorn serves only ASGI apps" in message
    assert "skip_invalid" in message
    skipped = text.replace('servers = ["uvicorn"]', 'servers = ["uvicorn"]\nskip_invalid = true')
    scenario = load_scenario(write(tmp_path, skipped))
    assert "flask@uvicorn-w1" not in [s.id for s in scenario.stacks]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("[load]", "[cpus]\nserver = [0]\nload = [0]\n[load]", "cpus: server [0] and load [0]"),
        ("[load]", "[cpus]\nserver = [64]\n[load]", "cpus.server: CPU 64 is not available"),
        ('name = "t"', 'name = "t/x"', "name: expected a name"),
        ("users = [2, 4]", "users = []", "load.users: expected a non-empty list"),
        ("rounds = 2", "rounds = 0", "load.rounds: expected an int >= 1"),
        ("rounds = 2", 'locustfile = "nope.py"', "load.locustfile: no such file"),
        ("rounds = 2", 'client = "requests"', "load.client: expected one of fasthttp, lean"),
        ("warmup_s = 1", "warmup_s = 1\nwarmpu_s = 1", "load.warmpu_s: unknown key"),
        ("sleep_ms = 5", "sleep_ms = 5\ncpu_n = 3", "mixes.io.params.cpu_n: not used"),
        ("upstream_ms = 5", "", "mixes.io.params.upstream_ms: expected an int"),
        ("json = 3", "json = 0", "mixes.json.json: expected a weight int >= 1"),
        ("threads = [2]", "threads = [0]", "stacks[0].threads: expected a non-empty list"),
        ("threads = [2]", "db_pool_size = 0", "stacks[0].db_pool_size: expected a non-empty"),
        ("threads = [2]", 'db_pool_size = ["4"]', "stacks[0].db_pool_size: expected a non-empty"),
        ("threads = [2]", 'tls = "yes"', "stacks[0].tls: expected true, false or a list"),
        ('name = "t"', 'name = "t"\ntls_key = "dsa"', "tls_key: expected one of ecdsa-p256, rsa"),
        ('name = "t"', 'name = "t"\ntls_resumption = 1', "tls_resumption: expected true or"),
        ('name = "t"', 'name = "t"\nclient_keepalive = "no"', "client_keepalive: expected"),
        (
            "threads = [2]",
            'proxy = "nginx-limit0"',
            "stacks[0].proxy: 'nginx-limit0': the rate limit must be >= 1 request/s",
        ),
        (
            "threads = [2]",
            'proxy = ["nginx", "none-limit50"]',
            "stacks[0].proxy: 'none-limit50': a rate limit needs a proxy in front",
        ),
        (
            "threads = [2]",
            'proxy = "limit50"',
            "stacks[0].proxy: 'limit50': a rate limit needs a proxy in front",
        ),
        ("threads = [2]", 'proxy = "nginx-limitx"', "stacks[0].proxy: expected one of none"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in VALID
    assert expected in problems_of(tmp_path, VALID.replace(old, new, 1))


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    assert "invalid TOML" in problems_of(tmp_path, "name = ")
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")


def test_db_pool_size_per_stack_overrides_the_scenarios(tmp_path: Path) -> None:
    text = VALID.replace('name = "t"', 'name = "t"\ndb_pool_size = 3').replace(
        '[[stacks]]\napps = ["fastapi-async"]',
        '[[stacks]]\napps = ["fastapi-async"]\ndb_pool_size = [2, 8]',
    )
    scenario = load_scenario(write(tmp_path, text))
    pooled = [s for s in scenario.stacks if s.app.id == "fastapi-async"]
    assert [(s.id, s.db_pool_size) for s in pooled] == [
        ("fastapi-async@uvicorn-w1p2", 2), ("fastapi-async@uvicorn-w1p8", 8),
    ]  # fmt: skip
    assert pooled[0].env() == {"DB_POOL_SIZE": "2"}
    assert pooled[0].describe()["db_pool_size"] == 2
    # Stacks without their own value keep the scenario-wide one (the server environment).
    plain = scenario.stacks[0]
    assert plain.db_pool_size is None and plain.env() == {}
    assert scenario.services.db_pool_size == 3
    assert parse_stack_id("fastapi-async@uvicorn-w1p8") == pooled[1]
    assert parse_stack_id("flask@gunicorn-gthread-w2t4p5+nginx").db_pool_size == 5


def test_tls_is_an_axis_of_a_selector_and_the_services_say_how(tmp_path: Path) -> None:
    text = VALID.replace(
        '[[stacks]]\napps = ["fastapi-async"]\nservers = ["uvicorn"]',
        '[[stacks]]\napps = ["fastapi-async"]\nservers = ["uvicorn"]\ntls = [false, true]\n'
        '[[stacks]]\napps = ["flask"]\nservers = ["uwsgi"]\nproxy = "nginx"\ntls = true',
    ).replace('name = "t"', 'name = "t"\ntls_key = "rsa-2048"\ntls_resumption = true')
    scenario = load_scenario(write(tmp_path, text))
    ids = [s.id for s in scenario.stacks]
    assert {"fastapi-async@uvicorn-w1", "fastapi-async@uvicorn-w1+tls"} <= set(ids)
    assert "flask@uwsgi-w1t1+nginx+tls" in ids
    services = scenario.services.describe()
    assert (services["tls_key"], services["tls_resumption"], services["client_keepalive"]) == (
        "rsa-2048", True, True,
    )  # fmt: skip
    # uWSGI cannot terminate TLS itself: refused with the reason, unless skipped.
    refused = VALID.replace('threads = [2]', 'threads = [2]\n[[stacks]]\napps = ["flask"]\n'
                            'servers = ["uwsgi"]\ntls = true')  # fmt: skip
    assert "uwsgi has no tls_args in servers.toml" in problems_of(tmp_path, refused)


@pytest.mark.parametrize("name", ["quick", "default", "full", "static", "front"])
def test_shipped_scenarios_are_valid(name: str) -> None:
    scenario = load_scenario(REPO_ROOT / "scenarios" / f"{name}.toml")
    assert scenario.name == name
    assert plan_cells(scenario)


LOAD_LINE = "rounds = 2"
# Distributed Locust runs one Locust per cell: the isolated design.
ISOLATED = 'design = "isolated"'
TARGET = """
[[stacks]]
apps = ["raw-wsgi"]
servers = ["gunicorn-sync"]
target = "http://127.0.0.1:8000"
"""


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        ("processes = 0", "load.processes: expected an int in 1..1024, got 0"),
        ("processes = 1.5", "load.processes: expected an int in 1..1024, got 1.5"),
        ("load_workers = 0", "load.load_workers: expected an int in 1..1024, got 0"),
        ("load_workers = 2\nprocesses = 2", "load.load_workers: not with load.processes > 1"),
        ('master_host = "127.0.0.1"', "load.master_host: only with load.load_workers"),
        ("master_port = 6000", "load.master_port: only with load.load_workers"),
        ("workers_wait_s = 10", "load.workers_wait_s: only with load.load_workers"),
        ("load_workers = 2\nmaster_port = 70000", "load.master_port: expected an int in 1..65535"),
        ('load_workers = 2\nmaster_host = "h:1"', "load.master_host: expected a host name or IP"),
        ("load_workers = 2\nworkers_wait_s = 0", "load.workers_wait_s: expected a number >= 1"),
        ("workers = 2\nload_workers = 2", "load.workers: the old name of load.load_workers"),
    ],
)
def test_bad_distribution_values_are_named(tmp_path: Path, new: str, expected: str) -> None:
    text = VALID.replace(LOAD_LINE, f"{LOAD_LINE}\n{ISOLATED}\n{new}", 1)
    message = problems_of(tmp_path, text)
    assert f"{tmp_path / 's.toml'}: {expected}" in message


def test_processes_and_workers_are_parsed(tmp_path: Path) -> None:
    text = VALID.replace(LOAD_LINE, f"processes = 2\n{ISOLATED}")
    processes = load_scenario(write(tmp_path, text)).load
    assert (processes.processes, processes.load_workers, processes.load_processes) == (2, 0, 2)
    load = f'load_workers = 3\nmaster_host = "10.0.0.2"\nmaster_port = 6000\n{ISOLATED}'
    text = VALID.replace(LOAD_LINE, load)
    scenario = load_scenario(write(tmp_path, text))
    assert (scenario.load.load_workers, scenario.load.load_processes) == (3, 3)
    assert (scenario.load.master_host, scenario.load.master_port) == ("10.0.0.2", 6000)
    assert scenario.endpoints == ((f"{tmp_path / 's.toml'}: load.master_host", "10.0.0.2"),)
    single = load_scenario(write(tmp_path, VALID)).load
    assert (single.processes, single.load_workers, single.load_processes) == (1, 0, 1)


def test_the_old_load_workers_key_is_read_with_a_warning(tmp_path: Path) -> None:
    text = VALID.replace(LOAD_LINE, f"workers = 2\n{ISOLATED}")
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.load.load_workers == 2
    assert scenario.warnings == (
        f"{tmp_path / 's.toml'}: load.workers: deprecated: it is now load.load_workers "
        "(Locust's workers)",
    )
    assert load_scenario(write(tmp_path, VALID)).warnings == ()


def test_a_target_stack_is_one_unmanaged_server(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID + TARGET))
    stack = scenario.stacks[-1]
    assert stack.id == "raw-wsgi@gunicorn-sync-w1"
    assert (stack.target, stack.managed) == ("http://127.0.0.1:8000", False)
    assert all(s.managed for s in scenario.stacks[:-1])
    assert scenario.endpoints == ((f"{tmp_path / 's.toml'}: stacks[2].target", "127.0.0.1"),)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"http://127.0.0.1:8000"', '"https://127.0.0.1:8000"', "expected http://HOST:PORT"),
        ('"http://127.0.0.1:8000"', '"http://127.0.0.1"', "expected http://HOST:PORT"),
        ('"http://127.0.0.1:8000"', "8000", "expected http://HOST:PORT"),
        ('"http://127.0.0.1:8000"', '"http://127.0.0.1:8000/api"', "and nothing more"),
        ('servers = ["gunicorn-sync"]', 'servers = ["gunicorn-sync", "uwsgi"]', "one server"),
        ('servers = ["gunicorn-sync"]', 'servers = ["gunicorn-sync"]\nworkers = [1, 2]', "one"),
        (
            'servers = ["gunicorn-sync"]',
            'servers = ["gunicorn-sync"]\nproxy = ["none", "nginx"]',
            "one proxy setting",
        ),
    ],
)
def test_bad_targets_are_named(tmp_path: Path, old: str, new: str, expected: str) -> None:
    message = problems_of(tmp_path, VALID + TARGET.replace(old, new))
    assert f"{tmp_path / 's.toml'}: stacks[2]" in message
    assert expected in message


def test_one_stack_id_cannot_be_both_started_and_a_target(tmp_path: Path) -> None:
    text = VALID + TARGET.replace("raw-wsgi", "flask")
    message = problems_of(tmp_path, text)
    assert "stacks[2]: flask@gunicorn-sync-w1 is selected twice with different targets" in message


def test_rounds_and_design(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID))
    assert (scenario.load.rounds, scenario.load.design) == (2, "rounds")
    old = load_scenario(write(tmp_path, VALID.replace(LOAD_LINE, "repeats = 4")))
    assert old.load.rounds == 4
    assert old.warnings == (
        f"{tmp_path / 's.toml'}: load.repeats: deprecated: rounds are the repeats now "
        "(load.rounds)",
    )
    both = problems_of(tmp_path, VALID.replace(LOAD_LINE, "rounds = 2\nrepeats = 2"))
    assert "load.repeats: the old name of load.rounds: give only rounds" in both
    distributed = problems_of(tmp_path, VALID.replace(LOAD_LINE, "processes = 2"))
    assert "load.design: distributed Locust (processes > 1 or load_workers)" in distributed
    bad = problems_of(tmp_path, VALID.replace(LOAD_LINE, 'design = "fast"'))
    assert "load.design: expected one of rounds, isolated, got 'fast'" in bad


def test_a_mix_name_with_a_leading_underscore_is_reserved(tmp_path: Path) -> None:
    message = problems_of(tmp_path, VALID.replace("[mixes.json]", "[mixes._cold]"))
    assert "mixes._cold: names starting with _ are reserved" in message


def test_the_readme_table_of_load_keys_is_the_code() -> None:
    # harness/README.md's [load] table: every key once, each default as LoadSpec has it.
    table = readme_keys("load")
    keys = {k for k in LOAD_KEYS if k not in ("repeats", "workers")}
    assert set(table) == keys
    for key, default in table.items():
        if default == "required":
            assert key not in LOAD_DEFAULTS, key
        elif default == "none":
            assert LOAD_DEFAULTS[key] in (None, ()), key
        elif key == "locustfile":
            assert LOAD_DEFAULTS[key].name == json.loads(default)
        else:
            assert LOAD_DEFAULTS[key] == json.loads(default), key
